# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "marimo>=0.23",
#     "torch>=2.2",
#     "matplotlib>=3.8",
#     "numpy>=1.26",
# ]
# ///

# Generated from marimo_ch03.py and locales/zh_TW/LC_MESSAGES/ch03.po by
# `python -m scripts.build_translation --locale zh_TW`. Do not edit it by hand: change the
# English notebook or the catalogue, then rebuild. The build will not overwrite this file once it
# was edited (an exercise answer saved by `marimo edit`, say) unless given --force.
# content-sha256: a99b6f88ebab0b47fcc9011c6e78dc621b0b95c46e6b6624e5e4cb8fbf36534c

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="第 3 章 · 實作注意力機制", css_file="marimo_ch03.css")


@app.cell
def setup():
    import marimo as mo
    import torch

    from shared import (
        attention,
        buffers,
        charts,
        devices,
        diagrams,
        equivalence,
        example,
        exercises,
        explorer,
        headfigures,
        headsplit,
        printout,
        session,
        timing,
        training,
    )
    from shared.editions import edition_link
    from shared.heatmap import attention_heatmaps
    from shared.seeding import seeded

    cjk_font = session.prepare()  # torch 只用一個執行緒；若系統有 CJK 字型，就讓 matplotlib 使用
    return (
        attention,
        attention_heatmaps,
        buffers,
        charts,
        cjk_font,
        devices,
        diagrams,
        edition_link,
        equivalence,
        example,
        exercises,
        explorer,
        headfigures,
        headsplit,
        mo,
        printout,
        seeded,
        session,
        timing,
        torch,
        training,
    )


@app.cell
def words():
    # 圖表上的詞元標籤：書中例句的中文版，延伸到十六個詞元。
    TOKENS = "你的 旅程 開始 於 一 步 而 每個 新 步伐 都 建立在 先前的 每 一步 之上".split()
    HEAD = "注意力頭"
    # 圖表裡的文字，以及練習的判定結果。
    WEIGHT_LABELS = {"colorbar_label": "權重", "row_axis_label": "查詢", "col_axis_label": "鍵", "masked_label": "已遮蔽：未來的詞元", "description": "注意力權重"}
    SCORE_LABELS = {**WEIGHT_LABELS, "colorbar_label": "分數", "description": "注意力分數"}
    STATUS_WORDS = {"todo": "尚未作答", "error": "發生錯誤", "wrong": "還不正確", "correct": "正確"}
    IMPLEMENTATION_NAMES = {"wrapper": "包裝器（3.6.1）", "split": "權重切分（3.6.2）", "sdpa": "SDPA", "torch": "torch.nn.MultiheadAttention"}
    return HEAD, IMPLEMENTATION_NAMES, SCORE_LABELS, STATUS_WORDS, TOKENS, WEIGHT_LABELS


@app.cell(hide_code=True)
def title(edition_link, mo):
    mo.vstack(
        [
            mo.md(
                r"""
                # 第 3 章 · 實作注意力機制

                這本互動筆記本陪你讀 Sebastian Raschka《Build a Large Language Model (From Scratch)》的第 3 章。我們照著這一章的順序，一小步一小步地打造注意力機制（attention mechanism）。每一步都能動手試：拖曳滑桿，圖表就會用真正的程式碼算出的權重重新繪製。

                下方印出的數字使用書中的範例和書中的隨機種子（random seed），可以直接和書頁對照。
                """
            ),
            # 另一種語言的筆記本：edition_link 會把連結指向這個頁面打得開的位址。
            edition_link("*英文版：[English](marimo_ch03.py)*"),
            mo.outline(label="目錄"),
        ]
    )
    return


@app.cell(hide_code=True)
def font_notice(TOKENS, cjk_font, mo, session):
    _needs_cjk = session.needs_cjk(" ".join(TOKENS))
    mo.callout(
        mo.md(
            "找不到含中文字形的字型，所以 matplotlib 圖表裡的中文會顯示成空白方框。請安裝一套中文字型（Debian/Ubuntu：`sudo apt-get install fonts-noto-cjk`），再重新啟動筆記本。其他功能都能照常使用。"
        ),
        kind="warn",
    ) if _needs_cjk and cjk_font is None else None
    return


@app.cell(hide_code=True)
def s3_1(diagrams, mo):
    mo.vstack(
        [
            mo.md(
                r"""
                ## 3.1 長序列建模的問題

                在 Transformer 出現之前，翻譯模型通常由兩個遞迴神經網路（recurrent neural network,
                RNN）組成。**編碼器**（encoder）一次讀入一個詞元（token），並更新隱藏狀態（hidden
                state）$h$；接著，**解碼器**（decoder）只能靠編碼器最後的隱藏狀態，產生整段輸出。句子的所有內容都得擠過這一個向量。輸入一長，前面的詞元就會在其中逐漸淡去。

                注意力機制拿掉了這個瓶頸：每產生一步輸出，解碼器都可以回頭看**所有**編碼器狀態，並決定此刻每個狀態有多重要。
                """
            ),
            diagrams.encoder_decoder(
                ["Ich", "lerne", "heute", "Attention"],
                ["我", "今天", "學習", "注意力"],
                encoder_label="RNN 編碼器",
                decoder_label="RNN 解碼器",
                bottleneck_label="全部擠進一個狀態",
                attention_label="加上注意力：每一步輸出都看得到所有輸入",
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def s3_2(diagrams, mo):
    mo.vstack(
        [
            mo.md(
                r"""
                ## 3.2 用注意力機制捕捉資料中的相依關係

                Bahdanau 注意力（2014 年）讓 RNN 解碼器在每一步為編碼器的各個狀態加權。三年後，Transformer 只留下注意力的部分。**自注意力**（self-attention）又往前一步：同一個序列裡的詞元彼此關注。於是每個詞元的新表示，也就是它的**上下文向量**（context vector），都融入了序列其他部分的資訊。

                本章分四個階段建構自注意力。後面幾章的 GPT 模型，用的就是最後一種。
                """
            ),
            diagrams.chapter_path(
                [
                    "3.3 簡單的\n自注意力",
                    "3.4 含可訓練權重的\n自注意力",
                    "3.5 因果\n注意力",
                    "3.6 多頭\n注意力",
                ],
                caption="每個階段都在前一個階段上多加一個概念。",
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def s3_3(mo):
    mo.md(r"""
    ## 3.3 用自注意力關注輸入的不同部分

    ### 3.3.1 不含可訓練權重的簡單自注意力機制

    我們的輸入是書中的句子「Your journey starts with one step」，圖中的中文標籤逐詞對應為「你的 旅程 開始 於 一 步」。它有六個詞元，每個都已經轉成三維的嵌入向量（embedding vector）$x^{(1)}, \dots, x^{(6)}$（真實的模型用到數百甚至數千個維度；三維才畫得進圖裡）。對每個詞元 $i$，我們要算出一個上下文向量 $z^{(i)}$，也就是所有輸入的加權總和：

    $$z^{(i)} = \sum_{j=1}^{T} \alpha_{ij}\, x^{(j)},$$

    其中 $T$ 是詞元數，**注意力權重**（attention weights）$\alpha_{ij}$ 表示詞元 $j$
    對詞元 $i$ 有多重要。我們先針對一個**查詢**（query）詞元，把每一步都算出來。
    """)
    return


@app.cell
def book_embeddings(example):
    inputs = example.book_inputs()  # (6, 3)：每個詞元一列，數字取自書中
    inputs
    return (inputs,)


@app.cell
def embedding_figure(TOKENS, charts, inputs):
    charts.embedding_image(
        inputs,
        TOKENS[:6],
        title="六個輸入嵌入向量",
        axis_labels=("維度 1", "維度 2", "維度 3"),
    )
    return


@app.cell(hide_code=True)
def scores_intro(mo):
    mo.md(r"""
    **注意力分數**（attention score）$\omega_{ij}$ 是查詢 $x^{(i)}$ 與每個輸入 $x^{(j)}$
    的點積（dot product）：兩個向量的方向越一致，分數就越大。書中用第二個詞元「journey」（旅程）當查詢；選別的詞元，就能看到它的數字。
    """)
    return


@app.cell(hide_code=True)
def normalise_intro(mo):
    mo.md(r"""
    分數可以是任意大小。為了把它們變成全為正、總和為 1 的權重，我們用 **softmax** 來正規化（normalize）：$\alpha_{ij} = e^{\omega_{ij}} / \sum_k e^{\omega_{ik}}$。下面的儲存格會針對你選的查詢詞元做完這三步：算出分數；做 softmax（先照字面公式寫成 `softmax_naive`，再用 `torch.softmax`）；最後用這些權重加總輸入，得到上下文向量。
    """)
    return


@app.cell
def query_control(TOKENS, mo):
    query_position = mo.ui.dropdown(
        options={token: position for position, token in enumerate(TOKENS[:6])},
        value=TOKENS[1],
        label="查詢詞元",
    )
    query_position
    return (query_position,)


@app.cell
def query_steps(attention, inputs, printout, query_position, torch):
    query_index = query_position.value
    query = inputs[query_index]  # (3,)
    attn_scores_query = torch.empty(inputs.shape[0])  # (6,)
    for _j, _x_j in enumerate(inputs):
        attn_scores_query[_j] = torch.dot(_x_j, query)  # 每個輸入詞元一個分數
    weights_naive = attention.softmax_naive(attn_scores_query)  # exp(x) / sum(exp(x))
    attn_weights_query = torch.softmax(attn_scores_query, dim=0)  # (6,)，總和為 1
    context_vec_query = torch.zeros(query.shape)  # (3,)
    for _j, _x_j in enumerate(inputs):
        context_vec_query += attn_weights_query[_j] * _x_j  # 輸入的加權總和
    printout.labelled(
        ("分數：", attn_scores_query),
        ("直接套公式的 softmax：", weights_naive),
        ("它的總和：", weights_naive.sum()),
        ("torch.softmax：", attn_weights_query),
        ("上下文向量：", context_vec_query),
    )
    return attn_scores_query, attn_weights_query, query_index


@app.cell(hide_code=True)
def softmax_warning(mo):
    mo.callout(
        mo.md(
            r"""
            分數很大時，照字面的公式會溢位（overflow）：`exp(1000.)` 是 `inf`，而 `inf / inf`
            是 `nan`。`torch.softmax` 會先把每個分數都減去最大的那個分數。這樣結果不變，每個 `exp` 也都不會超過 1。接下來我們都用它。
            """
        ),
        kind="info",
    )
    return


@app.cell
def query_weights_plot(TOKENS, attention_heatmaps, attn_weights_query, query_index):
    attention_heatmaps(
        attn_weights_query.unsqueeze(0),  # (1, 6)：只有一列，就是這個查詢的權重
        [TOKENS[query_index]],
        TOKENS[:6],
        colorbar_label="權重",
        row_axis_label="查詢",
        col_axis_label="輸入詞元",
        description="注意力權重",
        annotate=True,
    )
    return


@app.cell(hide_code=True)
def s3_3_2(mo):
    mo.md(r"""
    ### 3.3.2 計算所有輸入詞元的注意力權重

    要一次處理所有查詢，只需要兩次矩陣乘法。把各個輸入當成 $T \times d$ 矩陣 $X$ 的列：分數是 $\Omega = X X^\top$（第 $i$ 列是查詢 $i$ 的分數），權重 $A$ 是逐列做 softmax
    的結果，而上下文向量就是 $Z = A X$ 的各列。
    """)
    return


@app.cell
def all_tokens(inputs, printout, torch):
    attn_scores = inputs @ inputs.T  # (6, 6)
    attn_weights = torch.softmax(attn_scores, dim=-1)  # (6, 6)，每一列的總和都是 1
    all_context_vecs = attn_weights @ inputs  # (6, 3)
    printout.labelled(("各列總和：", attn_weights.sum(dim=-1)), ("上下文向量：", all_context_vecs))
    return


@app.cell(hide_code=True)
def simple_library(mo):
    mo.md(r"""
    本專案的 `shared/attention.py` 把這段計算寫成 `simple_self_attention`，下方的圖就是呼叫它畫出來的。滑桿可以超過書中的六個詞元：句子會再接上十個詞元，它們的嵌入向量由固定的隨機種子產生。
    """)
    return


@app.cell
def simple_length_control(example, mo):
    simple_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="序列長度", show_value=True)
    simple_length
    return (simple_length,)


@app.cell
def simple_plot(SCORE_LABELS, TOKENS, WEIGHT_LABELS, attention_heatmaps, explorer, mo, simple_length):
    _view = explorer.explore_simple(simple_length.value)  # 內部呼叫 attention.simple_self_attention
    _scores, _weights = _view.scores, _view.weights
    _labels = TOKENS[: simple_length.value]
    mo.hstack(
        [
            attention_heatmaps(_scores, _labels, titles=["分數  X Xᵀ"], vmin=float(_scores.min()), vmax=float(_scores.max()), max_width=470, **SCORE_LABELS),
            attention_heatmaps(_weights, _labels, titles=["權重  softmax(X Xᵀ)"], max_width=470, **WEIGHT_LABELS),
        ],
        justify="start",
        wrap=True,
    )
    return


@app.cell(hide_code=True)
def s3_4(diagrams, mo):
    mo.vstack(
        [
            mo.md(
                r"""
                ## 3.4 實作含可訓練權重的自注意力

                簡單的自注意力沒有東西可學：一個詞元的權重，只取決於原始嵌入向量彼此有多相似。Transformer 用的版本叫**縮放點積注意力**（scaled dot-product attention）。它先用可訓練的矩陣，把每個輸入投影成三種角色：

                * **查詢**（query）$q^{(i)} = x^{(i)} W_q$：詞元 $i$ 在找什麼；
                * **鍵**（key）$k^{(j)} = x^{(j)} W_k$：詞元 $j$ 拿來讓別人比對的特徵；
                * **值**（value）$v^{(j)} = x^{(j)} W_v$：詞元 $j$ 被選中時提供的內容。

                $W_q, W_k, W_v$ 都是 $d_\text{in} \times d_\text{out}$ 矩陣；訓練調整的就是它們。
                """
            ),
            diagrams.qkv_projection(
                {
                    "input": "輸入 x",
                    "query": "查詢  Q",
                    "key": "鍵  K",
                    "value": "值  V",
                    "scores": "分數\nQ Kᵀ",
                    "softmax": "÷ √d_k，softmax",
                    "weights": "權重  A",
                    "context": "上下文向量\nZ = A V",
                }
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def s3_4_1(mo):
    mo.md(r"""
    ### 3.4.1 逐步計算注意力權重

    和書中一樣，我們取 $d_\text{in} = 3$、$d_\text{out} = 2$，以第二個詞元當查詢，並用隨機種子 123 產生 $[0, 1)$ 之間的亂數，填入三個矩陣（`with seeded(123):` 就是本筆記本的 `torch.manual_seed(123)`；後面有一段說明原因）。
    """)
    return


@app.cell
def step_by_step(inputs, printout, seeded, torch):
    x_2 = inputs[1]  # (3,)，查詢詞元「journey」（旅程）
    d_in, d_out = inputs.shape[1], 2
    with seeded(123):
        W_query = torch.nn.Parameter(torch.rand(d_in, d_out), requires_grad=False)  # (3, 2)
        W_key = torch.nn.Parameter(torch.rand(d_in, d_out), requires_grad=False)  # (3, 2)
        W_value = torch.nn.Parameter(torch.rand(d_in, d_out), requires_grad=False)  # (3, 2)
    query_2 = x_2 @ W_query  # (2,)
    keys = inputs @ W_key  # (6, 2)
    values = inputs @ W_value  # (6, 2)
    printout.labelled(("query_2:", query_2), ("keys.shape:", keys.shape), ("values.shape:", values.shape))
    return keys, query_2, values


@app.cell
def step_scores(keys, printout, query_2, torch, values):
    attn_scores_2 = query_2 @ keys.T  # (6,)：每個鍵一個分數
    d_k = keys.shape[-1]
    attn_weights_2 = torch.softmax(attn_scores_2 / d_k**0.5, dim=-1)  # (6,)
    context_vec_2 = attn_weights_2 @ values  # (2,)
    printout.labelled(("分數：", attn_scores_2), ("權重：", attn_weights_2), ("上下文向量：", context_vec_2))
    return


@app.cell(hide_code=True)
def seeded_note(mo):
    mo.accordion(
        {
            "為什麼寫 `with seeded(123):`，而不是 `torch.manual_seed(123)`？": mo.md(r"""
            它為同一個亂數產生器設定種子（seed），而且在區塊結束前一直佔用它。老師把筆記本開給全班使用時，每位學生的儲存格都在同一個 Python 行程裡執行，共用這個產生器；若不佔用，別的學生的儲存格可能在我們的區塊執行到一半時抽取亂數，我們印出的數字就不再是書上的數字。
            """)
        }
    )
    return


@app.cell(hide_code=True)
def scaling_note(mo):
    mo.md(r"""
    **為什麼要除以 $\sqrt{d_k}$？** 取一個查詢 $q$ 和一個鍵 $k$，它們的 $d_k$ 個分量彼此獨立，平均值為 0、變異數（variance）為 1。兩者的點積 $q \cdot k = \sum_{m=1}^{d_k} q_m k_m$ 是 $d_k$ 個這樣的乘積之和，每個乘積的平均值為 0、變異數為 1，所以點積的*變異數*是 $d_k$，分散程度（標準差，standard deviation）是 $\sqrt{d_k}$。softmax 會把分散變成確定：分數彼此差得遠時，幾乎所有權重都落在同一個鍵上；而接近 one-hot 的 softmax 幾乎傳不回梯度（gradient），訓練就學得很慢。除以 $\sqrt{d_k}$ 能讓分散程度在任何 $d_k$ 下都回到 1；若除以 $d_k$，分散程度會縮成 $1/\sqrt{d_k}$，每一列都被壓平。

    下面的圖抽出這樣的向量（每個 $d_k$ 取 400 個查詢，各自對上 16 個鍵），量出分數的分散程度、16 個權重中最大者的平均值（1 代表 one-hot），以及 softmax 梯度的大小（它的 Jacobian 矩陣的範數，one-hot 的列為 0）。
    """)
    return


@app.cell(hide_code=True)
def scaling_import():
    from shared import scaling  # sqrt(d_k) 的示範（在這裡匯入，而不是在 setup：只有 3.4.1 用到它）

    return (scaling,)


@app.cell(hide_code=True)
def scaling_demo(mo, scaling):
    _spreads = scaling.spread_demo()  # 設定種子的隨機向量，平均值 0、變異數 1
    _big, _small = scaling.at(_spreads, 128), scaling.at(_spreads, 2)
    mo.vstack(
        [
            scaling.spread_figure(
                {
                    "spread": "分數的分散程度",
                    "top": "最大權重的平均值",
                    "gradient": "softmax 梯度的大小",
                    "raw": "q·k",
                    "scaled": "q·k / √d_k",
                    "over_d_k": "q·k / d_k",
                    "d_k": "d_k",
                    "alt": "q·k 的分散程度、softmax 的最大權重與梯度大小隨 d_k 的變化，分別為除以與不除以 √d_k",
                }
            ),
            mo.md(
                f"這裡量到的結果：在 $d_k = 128$ 時，分數的分散程度是 **{_big.raw_std:.1f}**（$\\sqrt{{128}} \\approx 11.3$），除以 $\\sqrt{{d_k}}$ 後是 **{_big.scaled_std:.2f}**。不除的話，最大權重的平均值是 **{_big.raw_top:.2f}**，梯度縮小到 **{_big.raw_gradient:.2f}**（$d_k = 2$ 時分別是 {_small.raw_top:.2f} 和 {_small.raw_gradient:.2f}）；除了以後，兩者在每個 $d_k$ 下都維持在 **{_big.scaled_top:.2f}** 和 **{_big.scaled_gradient:.2f}** 附近。"
            ),
            mo.md(
                r"在多頭注意力（3.6.2）中，$d_k$ 是*單一個頭*的寬度 `head_dim` $= d_\text{out} / h$，而不是 $d_\text{out}$：每個頭的查詢和鍵有 `head_dim` 個分量，分頭之後的 `keys.shape[-1]` 就是它。"
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def scaling_modules(mo):
    mo.md(r"""
    **本章的模組。** 下面是同一個開關放在 `SelfAttention_v1` 和 `SelfAttention_v2` 裡，作用在我們的六個詞元上（$d_\text{in} = 3$）。書中 $[0, 1)$ 均勻分佈的權重並不是上面的情形：每個權重、每個輸入都是正數，所以每個查詢、鍵和分數都是正數，而且全都隨 $d_k$ 一起變大。於是每個查詢都把最大的權重給同一個鍵；除以 $\sqrt{d_k}$ 只能讓權重變尖的速度慢下來，卻擋不住。`nn.Linear` 的初始化抽出有正有負的小權重（介於 $\pm 1/\sqrt{d_\text{in}}$ 之間）；除以 $\sqrt{d_k}$ 時，每一列都很接近平均分配。圖下方的句子說明目前設定下看到的情形。
    """)
    return


@app.cell
def init_choice_control(mo):
    init_choice = mo.ui.radio(
        options={"[0, 1) 均勻分佈（SelfAttention_v1）": "uniform", "nn.Linear 預設（SelfAttention_v2）": "linear"},
        value="[0, 1) 均勻分佈（SelfAttention_v1）",
        label="權重初始化",
    )
    init_choice
    return (init_choice,)


@app.cell
def scale_switch_control(mo):
    scale_on = mo.ui.switch(value=True, label="分數除以 √d_k")
    scale_on
    return (scale_on,)


@app.cell
def key_dim_control(mo):
    key_dim = mo.ui.slider(steps=[2, 4, 8, 16, 32, 64, 128], value=2, label="d_out = d_k", show_value=True)
    key_dim
    return (key_dim,)


@app.cell
def trainable_length_control(example, mo):
    trainable_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="序列長度", show_value=True)
    trainable_length
    return (trainable_length,)


@app.cell
def trainable_plot(
    SCORE_LABELS,
    TOKENS,
    WEIGHT_LABELS,
    attention_heatmaps,
    explorer,
    init_choice,
    key_dim,
    mo,
    scale_on,
    trainable_length,
):
    _view = explorer.explore_trainable(trainable_length.value, key_dim.value, init=init_choice.value, scaled=scale_on.value)
    _labels = TOKENS[: trainable_length.value]
    mo.hstack(
        [
            attention_heatmaps(_view.scores, _labels, titles=["分數  Q Kᵀ（縮放前）"], vmin=float(_view.scores.min()), vmax=float(_view.scores.max()), max_width=470, **SCORE_LABELS),
            attention_heatmaps(_view.weights, _labels, titles=["注意力權重"], max_width=470, **WEIGHT_LABELS),
        ],
        justify="start",
        wrap=True,
    )
    return


@app.cell(hide_code=True)
def trainable_caption(TOKENS, init_choice, key_dim, mo, scaling, trainable_length):
    _effect = scaling.module_effect(trainable_length.value, key_dim.value, init_choice.value)
    if _effect.num_tokens == 1:
        _agree = "只有一個詞元時，它唯一的鍵拿走全部的權重。"
    elif _effect.shared_top_key is not None:
        _agree = f"全部 {_effect.num_tokens} 個查詢都把最大的權重給同一個鍵：「{TOKENS[_effect.shared_top_key]}」。"
    else:
        _agree = "各個查詢給最大權重的鍵並不都相同。"
    _signs = "每個分數都是正數。" if _effect.all_scores_positive else "分數有正有負。"
    mo.md(
        f"這裡 $d_k = {_effect.d_k}$：{_agree}{_signs}最大權重的平均值，除以 √d_k 時是 **{_effect.scaled_top:.2f}**，不除時是 **{_effect.raw_top:.2f}**（平均分配給 {_effect.num_tokens} 個詞元時是 {1 / _effect.num_tokens:.2f}）。"
    )
    return


@app.cell(hide_code=True)
def s3_4_2(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.4.2 實作精簡的自注意力 Python 類別

            把同樣的步驟一次套用到所有詞元，包成一個 PyTorch 模組。下面就是實際執行的程式碼（取自 `shared/attention.py`），而且只有本章的步驟：圖表是從外面讀取權重的，做法是觀察這個 `forward` 的執行過程（`forward_with_weights`）。

            """),
            mo.md(printout.source_markdown(attention.SelfAttention_v1)),
        ]
    )
    return


@app.cell
def v1_numbers(attention, inputs, seeded):
    with seeded(123):
        sa_v1 = attention.SelfAttention_v1(3, 2)
    sa_v1(inputs)  # 第二列就是上面算出的 context_vec_2
    return


@app.cell(hide_code=True)
def v2_intro(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            `nn.Linear` 層做的是同樣的乘法，但它初始化權重的方式更適合訓練，也能加上偏差項（bias）。這個版本 `SelfAttention_v2` 就是我們接下來的基礎：

            """),
            mo.md(printout.source_markdown(attention.SelfAttention_v2)),
        ]
    )
    return


@app.cell
def v2_numbers(attention, inputs, seeded):
    with seeded(789):
        sa_v2 = attention.SelfAttention_v2(3, 2)
    sa_v2(inputs)
    return (sa_v2,)


@app.cell(hide_code=True)
def exercise_3_1_text(mo):
    mo.md(r"""
    #### 練習 3.1 · 比較 `SelfAttention_v1` 與 `SelfAttention_v2`

    請寫出 `transfer_weights(sa_v1, sa_v2)`，讓它執行之後，`sa_v1` 的輸出和 `sa_v2` 完全相同。提示：`nn.Linear` 以 $(d_\text{out}, d_\text{in})$ 的形狀儲存權重矩陣。請修改下一個儲存格（在 `marimo edit` 中）；一改完，下方的檢查就會立刻反應。
    """)
    return


@app.cell
def exercise_3_1_answer():
    def transfer_weights(sa_v1, sa_v2):
        # 在這裡寫程式碼：把 sa_v2 的三個權重矩陣複製到 sa_v1（對參數使用 .copy_）。
        raise NotImplementedError("尚未作答")

    answer_3_1 = None  # 函式寫好之後，改成：answer_3_1 = transfer_weights
    return (answer_3_1,)


@app.cell(hide_code=True)
def exercise_3_1_check(STATUS_WORDS, answer_3_1, exercises, mo, printout):
    _check = exercises.check_weight_transfer(answer_3_1)
    _verdict = {
        "todo": mo.callout(mo.md("尚未作答：請完成 `transfer_weights`，並設定 `answer_3_1 = transfer_weights`。"), kind="neutral"),
        "error": mo.callout(mo.md(f"你的函式引發了錯誤：`{_check.detail.get('error', '')}`"), kind="danger"),
        "wrong": mo.callout(mo.md(f"還不正確：兩者輸出的最大差距仍是 {_check.detail.get('max_difference', 0):.4f}。"), kind="warn"),
        "correct": mo.callout(mo.md("正確：`sa_v1` 現在算出的結果和 `sa_v2` 完全相同。"), kind="success"),
    }[_check.status]
    _solution = mo.vstack(
        [
            mo.md(printout.source_markdown(exercises.solution_weight_transfer)),
            mo.md(f"在這裡檢查的結果：**{STATUS_WORDS[exercises.check_weight_transfer(exercises.solution_weight_transfer).status]}**。"),
        ]
    )
    mo.vstack([_verdict, mo.accordion({"顯示參考解答": _solution})])
    return


@app.cell(hide_code=True)
def s3_5(mo):
    mo.md(r"""
    ## 3.5 用因果注意力隱藏未來的詞

    語言模型一次寫出一個詞元，所以在產生詞元 $i$ 時，不能偷看它後面的詞元。**因果**（causal）注意力又稱為遮蔽式（masked）注意力，它讓每個查詢只能關注自己和前面的詞元：在權重矩陣中，對角線以上的部分全部變成 0。

    ### 3.5.1 套用因果注意力遮罩

    書中先把未來的權重設為零，再把每一列重新正規化。如果在 softmax 之前就把未來的**分數**設為 $-\infty$，一步就能得到同樣的結果，因為 $e^{-\infty} = 0$：
    """)
    return


@app.cell
def mask_diagram(diagrams):
    diagrams.mask_steps({"scores": "分數", "masked": "未來 → −∞", "weights": "權重", "minus_inf": "遮罩"})
    return


@app.cell
def causal_by_hand(inputs, sa_v2, torch):
    with torch.no_grad():
        queries = sa_v2.W_query(inputs)  # (6, 2)
        keys_v2 = sa_v2.W_key(inputs)  # (6, 2)
        scores_v2 = queries @ keys_v2.T  # (6, 6)
    context_length = scores_v2.shape[0]
    mask = torch.triu(torch.ones(context_length, context_length), diagonal=1)  # 對角線以上為 1
    masked_scores = scores_v2.masked_fill(mask.bool(), -torch.inf)  # (6, 6)
    causal_weights = torch.softmax(masked_scores / keys_v2.shape[-1] ** 0.5, dim=-1)  # (6, 6)
    causal_weights
    return (causal_weights,)


@app.cell
def mask_switch_control(mo):
    mask_on = mo.ui.switch(value=True, label="因果遮罩")
    mask_on
    return (mask_on,)


@app.cell
def causal_length_control(example, mo):
    causal_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="序列長度", show_value=True)
    causal_length
    return (causal_length,)


@app.cell
def causal_plot(TOKENS, WEIGHT_LABELS, attention_heatmaps, causal_length, explorer, mask_on):
    _view = explorer.explore_causal(causal_length.value, causal=mask_on.value)
    attention_heatmaps(
        _view.weights,
        TOKENS[: causal_length.value],
        titles=["因果注意力權重" if mask_on.value else "沒有遮罩的權重"],
        masked=_view.masked,
        **WEIGHT_LABELS,
        show_row_sums=True,
    )
    return


@app.cell(hide_code=True)
def causal_caption(mo):
    mo.md(r"""
    畫斜線的格子已被遮蔽：鍵排在查詢之後，所以權重剛好是 0。這和很小的權重不同：小權重是模型算出來的，本來也可能更大。關掉遮罩，上三角就會填滿。最右側的 $\Sigma$ 欄是每一列的總和：不論有沒有遮罩，永遠是 1。
    """)
    return


@app.cell(hide_code=True)
def mask_routes_intro(equivalence, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### 兩條路，同樣的權重

            書中用兩種方式套用遮罩。第一種先對每個分數取 softmax，把未來詞元的權重設為 0，再把每一列除以它新的總和，讓這一列的總和重新等於 1。第二種則把未來的**分數**設為 $-\infty$，只取一次 softmax。下面這個函式兩種都做：

            """),
            mo.md(printout.source_markdown(equivalence.mask_routes)),
        ]
    )
    return


@app.cell
def mask_routes_check(equivalence, inputs, printout, sa_v2, torch):
    with torch.no_grad():
        route_scores = sa_v2.W_query(inputs) @ sa_v2.W_key(inputs).T  # (6, 6)：3.5.1 的分數
    routes = equivalence.mask_routes(route_scores, d_k=2)
    printout.labelled(
        ("softmax、未來歸零、重新正規化：", routes.renormalised),
        ("未來的分數設為 -inf，再取 softmax：", routes.minus_inf),
        ("最大差異：", round(routes.max_difference, 9)),
    )
    return (route_scores,)


@app.cell(hide_code=True)
def diagonal_trap_intro(mo):
    mo.md(r"""
    兩者一致到 float32 能表示的最後一位數。第二種只要一次 softmax，不必再做一次除法，所以各個類別都用它。

    #### 陷阱：連對角線也遮蔽

    遮罩來自 `torch.triu(..., diagonal=1)`：只有對角線上方（不含對角線）的位置是 1。若寫成 `diagonal=0`，每個詞元連自己也被遮蔽。第一個詞元本來只能看自己，這下什麼都看不到：它的整列分數都是 $-\infty$，softmax 算出 0 除以 0，這一列就變成 NaN（not a number，非數值）：
    """)
    return


@app.cell
def diagonal_trap_check(equivalence, printout, route_scores):
    trapped = equivalence.diagonal_trap(route_scores, d_k=2)  # 遮罩來自 torch.triu(..., diagonal=0)
    printout.labelled(("權重：", trapped), ("含 NaN 的列：", equivalence.nan_rows(trapped)))
    return


@app.cell(hide_code=True)
def diagonal_trap_caption(mo):
    mo.callout(
        mo.md(
            "一列 NaN 就足以出事。到了下一層，後面的每個詞元都會關注第一個詞元，也就把它的 NaN 一起吸收進來；很快地，每個數字都變成 NaN，損失（loss）也不例外。只遮蔽未來（`diagonal=1`）：詞元永遠可以關注自己。"
        ),
        kind="warn",
    )
    return


@app.cell(hide_code=True)
def s3_5_2(mo):
    mo.md(r"""
    ### 3.5.2 用 dropout 遮蔽額外的注意力權重

    **Dropout** 在訓練時，隨機把比例為 $p$ 的注意力權重設為零，讓模型不能只依賴少數幾條特定的連結，有助於降低過度擬合（overfitting）的風險。為了讓總和的期望值不變，留下來的權重會乘上
    $1/(1-p)$。推論（inference）時要先呼叫 `model.eval()`，此時 dropout 完全不起作用。

    對全是 1 的矩陣取 $p = 0.5$，大約一半的元素會變成 0，其餘的變成 2。哪些元素被丟掉由亂數產生器決定；書中也提醒，同一個種子在別的作業系統或 PyTorch 版本上可能得到不同的樣式。如果你的結果和書上不同，規則依然成立。
    """)
    return


@app.cell
def dropout_ones(seeded, torch):
    dropout = torch.nn.Dropout(0.5)  # p = 0.5：留下的值乘上 1 / (1 - 0.5) = 2
    example_ones = torch.ones(6, 6)
    with seeded(123):
        thinned_ones = dropout(example_ones)
    thinned_ones
    return (dropout,)


@app.cell
def dropout_weights(causal_weights, dropout, seeded):
    with seeded(123):
        thinned_weights = dropout(causal_weights)  # 3.5.1 的因果權重，隨機丟掉一部分
    thinned_weights
    return


@app.cell
def dropout_control(mo):
    dropout_p = mo.ui.slider(0.0, 0.9, step=0.05, value=0.5, label="Dropout 比率 p", show_value=True)
    dropout_p
    return (dropout_p,)


@app.cell
def dropout_plot(TOKENS, WEIGHT_LABELS, attention_heatmaps, dropout_p, explorer):
    _p = dropout_p.value
    _view = explorer.explore_causal(6, _p)
    attention_heatmaps(
        _view.weights,
        TOKENS[:6],
        titles=[f"p = {_p:.2f}，留下的權重 × {1 / (1 - _p):.2f}"],
        masked=_view.masked,
        **WEIGHT_LABELS,
        show_row_sums=True,
    )
    return


@app.cell(hide_code=True)
def dropout_caption(mo):
    mo.md(r"""
    留下的權重乘上 $1/(1-p)$（倍數標在圖的標題上），被丟掉的權重是 0，所以一列的總和 $\Sigma$（不等於 1 時以紅色顯示）不再是 1；只有在多次隨機抽樣下，它的**平均**才是 1。把 $p$ 設為 0，每一列的總和就又回到 1。$p = 0.5$ 時，圖中就是上面書裡的那個矩陣。
    """)
    return


@app.cell(hide_code=True)
def s3_5_3(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.5.3 實作精簡的因果自注意力類別

            這個類別在 `SelfAttention_v2` 之上多做了三件事：它可一次接受整批（batch）序列，形狀為 $(b, T, d_\text{in})$；它把遮罩存成緩衝區（buffer），會跟著模組移到其他裝置（device），但永遠不參與訓練；它還會對權重套用 dropout。

            """),
            mo.md(printout.source_markdown(attention.CausalAttention)),
        ]
    )
    return


@app.cell
def causal_class(attention, inputs, printout, seeded, torch):
    batch = torch.stack((inputs, inputs))  # (2, 6, 3)：同一個句子的兩份複本
    with seeded(123):
        ca = attention.CausalAttention(3, 2, batch.shape[1], 0.0)
    context_vecs = ca(batch)  # (2, 6, 2)
    printout.labelled(("context_vecs.shape:", context_vecs.shape), ("context_vecs:", context_vecs))
    return (batch,)


@app.cell(hide_code=True)
def buffer_intro(buffers, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### 為什麼遮罩是緩衝區（buffer）

            `CausalAttention` 用 `self.register_buffer("mask", ...)` 儲存它的遮罩。如果改成普通的屬性 `self.mask = ...`，會出什麼問題？下面就是這個版本，其餘和原本的類別完全相同：
            """),
            mo.md(printout.source_markdown(buffers.CausalAttentionPlainMask)),
            mo.md(r"""
            下面的儲存格用同一個種子建立這兩個版本，再用 `.to(...)` 把它們各自搬到另一個裝置：如果這臺電腦有 GPU（CUDA 或 Apple 的 MPS），就搬到 GPU；另外也搬到 PyTorch 的 `meta` 裝置，每臺電腦都有它（它的張量只有形狀，沒有資料）。在 GPU 上，它還會在本章的批次上執行兩者。
            """),
        ]
    )
    return


@app.cell
def buffer_facts(attention, batch, buffers, devices, mo, seeded):
    with seeded(123):
        with_buffer = attention.CausalAttention(3, 2, 6, 0.0)  # 遮罩登記為緩衝區：self.register_buffer("mask", ...)
    with seeded(123):
        plain_mask = buffers.CausalAttentionPlainMask(3, 2, 6, 0.0)  # 遮罩改為普通屬性：self.mask = ...
    reader_device = devices.pick_device()  # 先找 CUDA，再找 Apple 的 MPS，都沒有就用 CPU
    destinations = (buffers.META,) if reader_device.type == "cpu" else (reader_device, buffers.META)
    buffer_contrast = {
        "buffer": buffers.contrast(with_buffer, batch, destinations),  # 搬移它、執行它，記下發生了什麼
        "plain": buffers.contrast(plain_mask, batch, destinations),
    }
    _b, _p = buffer_contrast["buffer"], buffer_contrast["plain"]
    _mark = {True: "✓", False: "✗"}
    _rows = [
        "| | `register_buffer` | 普通屬性 |",
        "| :-- | :-- | :-- |",
        f"| `mask` 在 `state_dict()` 裡 | {_mark['mask' in _b.saved]} | {_mark['mask' in _p.saved]} |",
        f"| `mask` 在 `parameters()` 裡 | {_mark['mask' in _b.parameters]} | {_mark['mask' in _p.parameters]} |",
        f"| `parameters()` | {', '.join(_b.parameters)} | {', '.join(_p.parameters)} |",
    ]
    for _mb, _mp in zip(_b.moves, _p.moves, strict=True):
        _rows.append(f"| `.to({_mb.device})` 之後的 `mask.device` | `{_mb.mask_device}` | `{_mp.mask_device}` |")
        if _mb.device != "meta":
            _rows.append(f"| `.to({_mb.device})` 之後的前向傳遞 | {_mb.output or _mb.error} | {_mp.output or '**' + str(_mp.error) + '**'} |")
    _gpu = [(_mb, _mp) for _mb, _mp in zip(_b.moves, _p.moves, strict=True) if _mb.device != "meta"]
    if _gpu and _gpu[0][1].error:
        _verdict = mo.callout(mo.md(f"在這臺電腦的 GPU 上，普通屬性的版本失敗了，PyTorch 的原話是：`{_gpu[0][1].error}`。它的遮罩留在 CPU 上，權重和分數卻到了 `{_gpu[0][1].weight_device}`。"), kind="danger")
    elif _gpu:
        _verdict = mo.callout(mo.md(f"在這臺電腦的 GPU 上，兩個版本都執行成功。普通屬性的遮罩仍然留在 `{_gpu[0][1].mask_device}`。"), kind="warn")
    else:
        _verdict = mo.callout(mo.md("這臺電腦沒有 GPU，所以這裡不會有任何失敗。在 GPU 上，普通屬性版本的前向傳遞會把 GPU 上的分數和留在 CPU 上的遮罩放在一起運算，而 PyTorch 會拒絕。"), kind="neutral")
    mo.vstack(
        [
            mo.md(f"這臺機器上最好的裝置：**{devices.describe(reader_device)}**"),
            mo.md("\n".join(_rows)),
            _verdict,
            mo.md("在 `meta` 上，表格顯示每個遮罩*去了哪裡*：`.to(...)` 把緩衝區和權重一起搬走，普通屬性卻留在 CPU 上。"),
            mo.md(
                "兩個遮罩都不在 `parameters()` 裡，所以任何最佳化器都不會更新它們：*永遠不被最佳化*，是緩衝區和參數（那三個權重）的差別。緩衝區比普通屬性多出來的，是表中其餘各列：`state_dict()` 會儲存它，`.to(...)` 會把它和權重一起搬走。"
            ),
        ]
    )
    return (buffer_contrast,)


@app.cell(hide_code=True)
def s3_6(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ## 3.6 把單頭注意力擴充為多頭注意力

            ### 3.6.1 堆疊多個單頭注意力層

            一個注意力頭（head）學會一種詞元之間的關聯方式。多個頭各有自己的 $W_q, W_k, W_v$，就能同時學會好幾種，這就是多頭注意力（multi-head attention）。最直接的做法，是讓 $h$ 個因果注意力頭並排執行，再把它們的輸出串接（concatenate）起來，所以輸出寬度是 $h \cdot d_\text{out}$：

            """),
            mo.md(printout.source_markdown(attention.MultiHeadAttentionWrapper)),
        ]
    )
    return


@app.cell
def wrapper_numbers(attention, batch, printout, seeded):
    with seeded(123):
        mha_wrapper = attention.MultiHeadAttentionWrapper(3, 2, batch.shape[1], 0.0, num_heads=2)
    wrapper_context = mha_wrapper(batch)  # (2, 6, 4)：兩個頭，各寬 2
    printout.labelled(("形狀：", wrapper_context.shape), ("上下文向量：", wrapper_context))
    return


@app.cell(hide_code=True)
def exercise_3_2_text(mo):
    mo.md(r"""
    #### 練習 3.2 · 回傳二維的嵌入向量

    維持 `num_heads=2`。`d_out` 要設成多少，包裝器（wrapper）回傳的上下文向量寬度才會是 2？
    """)
    return


@app.cell
def exercise_3_2_input(mo):
    answer_3_2 = mo.ui.number(start=1, stop=16, step=1, value=2, label="每個頭的 d_out")
    answer_3_2
    return (answer_3_2,)


@app.cell(hide_code=True)
def exercise_3_2_check(answer_3_2, exercises, mo):
    _check = exercises.check_wrapper_width(answer_3_2.value)
    _verdict = {
        "todo": mo.callout(mo.md("請在上方輸入一個值。"), kind="neutral"),
        "error": mo.callout(mo.md(f"這個值無法接受：{_check.detail.get('error', '')}"), kind="danger"),
        "wrong": mo.callout(mo.md(f"還不正確：用這個 `d_out`，包裝器回傳的向量寬度是 {_check.detail.get('width')}。"), kind="warn"),
        "correct": mo.callout(mo.md("正確：兩個寬度為 1 的頭串接起來，就得到二維向量。"), kind="success"),
    }[_check.status]
    mo.vstack(
        [
            _verdict,
            mo.accordion(
                {
                    "顯示參考解答": mo.md(
                        f"輸出寬度 = `num_heads * d_out`，所以兩個頭時 `d_out = {exercises.SOLUTION_WRAPPER_D_OUT}`：`MultiHeadAttentionWrapper(3, 1, 6, 0.0, num_heads=2)`。"
                    )
                }
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def s3_6_2(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.6.2 以權重切分實作多頭注意力

            包裝器是一個頭接著一個頭執行。`MultiHeadAttention` 則對查詢、鍵、值各只用**一個**
            $d_\text{in} \times d_\text{out}$ 投影，再改變形狀（reshape），把結果切成 $h$ 個寬度為 $d_\text{head} = d_\text{out} / h$ 的頭：$(b, T, d_\text{out}) \to (b, T, h, d_\text{head}) \to (b, h, T, d_\text{head})$。接著，所有頭在一次批次矩陣乘法中一起算完，最後由線性層 `out_proj`
            混合串接後的各個頭。

            """),
            mo.md(printout.source_markdown(attention.MultiHeadAttention)),
        ]
    )
    return


@app.cell
def mha_numbers(attention, batch, printout, seeded):
    with seeded(123):
        mha = attention.MultiHeadAttention(3, 2, batch.shape[1], 0.0, num_heads=2)
    mha_context = mha(batch)  # (2, 6, 2)：這裡的 d_out = 2 是總寬度
    printout.labelled(("形狀：", mha_context.shape), ("上下文向量：", mha_context))
    return


@app.cell(hide_code=True)
def head_split_intro(mo):
    mo.md(r"""
    #### 逐步看懂分頭

    每個頭分到的那一份 $d_\text{out}$ 去了哪裡？下圖用一個真實模組的權重，在本章的批次（我們六個詞元的兩份副本，$d_\text{in} = 3$）上重播 `MultiHeadAttention` 的 `forward`，也就是分頭（head split）的過程：圖中每一列對應一行程式碼。左邊是那一行程式碼，以及它產生的張量的形狀、`stride()` 和 `is_contiguous()`，全都直接從那個張量讀出來。右邊是張量本身，畫的是批次中的第一個序列。

    每個張量都按同一條規則來畫：批次之後的第一個軸變成並排的面板，最後兩個軸是每個面板的列與行。所以 $(T, h, d_\text{head})$ 是 $T$ 個面板，每個詞元一個（編號在上方），每個頭佔一列；$(h, T, d_\text{head})$ 是 $h$ 個面板，每個頭一個，每個詞元佔一列。數字的顏色代表它屬於哪個頭，深淺代表它的大小；列左邊的小數字，是那一列來自哪個詞元。

    每個張量下方有兩條細帶，把同樣的數字排成一行，按頭上色：**記憶體**是這塊數字在記憶體中的排列順序，**讀取**是張量的形狀讀取它們的順序（一個面板接一個面板，一列接一列）。兩者不同時，第二條的標籤會變成紅色。

    跟著顏色看。`view` 把每個詞元那一列的 $d_\text{out}$ 個數字切成 $h$ 段，每段 $d_\text{head} = d_\text{out} / h$ 個。`transpose(1, 2)` 把每個頭的各段集中起來，變成它自己的 $(T, d_\text{head})$ 矩陣，於是一次批次矩陣乘法 `@` 就能算出每個頭的 $(T, T)$ 分數；它的記憶體細帶完全沒變，變的只有讀取順序。回程時，`transpose(1, 2)` 和 `contiguous().view` 再把各個頭並排放回去，每個頭回到它原本的那幾行，最後由 `out_proj` 把它們混合。試試 1、4 和 12 個頭、更寬的模型，以及錯誤的 reshape。
    """)
    return


@app.cell
def head_split_controls(headsplit, mo):
    # 在同一個儲存格裡建立並顯示：移動控制項時，只會重新執行圖的儲存格，不會連帶執行另一個版面配置儲存格。
    split_num_heads = mo.ui.slider(steps=list(headsplit.HEAD_COUNTS), value=4, label="注意力頭數 h", show_value=True)
    split_d_out = mo.ui.slider(steps=list(headsplit.WIDTHS), value=12, label="模型寬度 d_out", show_value=True)
    wrong_reshape = mo.ui.switch(value=False, label="錯誤的 reshape：直接 view 成 (b, h, T, d_head)")
    mo.hstack([split_num_heads, split_d_out, wrong_reshape], justify="start", gap=2)
    return split_d_out, split_num_heads, wrong_reshape


@app.cell
def head_split_words():
    # 分頭圖裡的文字（圖中的程式碼保持原樣）。
    SPLIT_WORDS = {
        "projection": "查詢的投影：每個頭一種顏色",
        "split": "每個詞元的列切成 h 段，每個頭一段",
        "split_wrong": "h 塊記憶體當成頭，每塊混著多個詞元和多個頭的列",
        "heads": "頭在詞元之前：每個頭一個 (T, d_head) 矩陣",
        "skipped": "略過：沒有轉置",
        "weights": "每個頭的注意力權重",
        "context": "每個頭的上下文向量",
        "back": "詞元再回到頭之前",
        "merged": "各個頭再次並排，各自回到自己的行",
        "output": "out_proj 混合各個頭",
        "view_fails": "沒有 contiguous()，view 會失敗：",
        "view_works": "這裡即使沒有 contiguous()，view 也能成功：只有一個頭，或每個頭只有一個數字時，要合併的軸在記憶體中仍以固定的步幅前進",
        "memory": "記憶體",
        "reading": "讀取",
        "difference": "與 MultiHeadAttention 的最大差異：",
        "rows": "列左邊的小數字是那一列來自的詞元：",
        "batch": "（批次中兩個序列的第一個）",
        "mixed": "混合所有的頭",
        "masked": "已遮蔽",
    }
    return (SPLIT_WORDS,)


@app.cell
def head_split_plot(HEAD, SPLIT_WORDS, TOKENS, headfigures, headsplit, split_d_out, split_num_heads, wrong_reshape):
    _heads, _width = split_num_heads.value, split_d_out.value
    head_split = headsplit.split_heads(_heads, _width, wrong_reshape=wrong_reshape.value)  # 重播真實的模組
    headfigures.head_split_figure(
        head_split,
        TOKENS[:6],
        SPLIT_WORDS,
        head_word=HEAD,
        alt=f"MultiHeadAttention 的分頭過程，逐步呈現：{_heads} 個頭，d_out = {_width}",
    )
    return (head_split,)


@app.cell(hide_code=True)
def contiguous_note(mo):
    mo.md(r"""
    **為什麼需要 `contiguous()`？** 張量是一塊記憶體，加上它的步幅（strides）：沿著每個軸走一步，要跳過多少個數字。`view` 從不搬動任何數字，它只是給同一塊記憶體新的步幅。`transpose(1, 2)` 也不搬動數字：它只交換兩個步幅（記憶體細帶保持不變），於是 `is_contiguous()`（記憶體是否連續，contiguous）變成 False（圖中以紅色標出）。

    精確的規則是：`view` 只有在相鄰幾個軸的步幅*相容*時，才能把它們合併成一個軸；也就是每個被合併的軸，步幅都等於下一個軸的大小乘上那個軸的步幅，這樣用一個固定的步幅就能走遍它們（長度為 1 的軸不算：從來不會沿著它走）。回到 $(b, T, h, d_\text{head})$ 時，頭這個軸的步幅是 $T \cdot d_\text{head}$，而它後面的 $d_\text{head}$ 軸有 $d_\text{head}$ 個數字、步幅為 1：除非 $T = 1$，兩者並不相等，所以 `view(b, T, d_out)` 拒絕執行，錯誤訊息就寫在圖中。`contiguous()` 把數字照讀取的順序複製到一塊新的記憶體（記憶體細帶現在和讀取細帶一致），之後 `view` 就能把每個詞元的各個頭接起來。（`reshape` 兩步都做，而且只在必要時才複製。）

    只有一個頭，或每個頭只有一個數字（$h = d_\text{out}$）時，要合併的兩個軸之一長度為 1，規則成立，`view` 不需要 `contiguous()` 也能成功，雖然那裡的 `is_contiguous()` 是 False：試試寬度 12、12 個頭。記憶體連續對 `view` 來說是充分條件，不是必要條件。

    **錯誤的 reshape。** 把開關切到開啟，程式碼就會直接呼叫 `view(b, h, T, d_head)`。形狀都對，也不會出錯，結果卻是錯的。`view` 依序切開記憶體，所以第一個「頭」拿到最前面的 $T \cdot d_\text{head}$ 個數字：前幾個詞元的片段，而且來自每一個頭（看它混雜的顏色和重複的詞元編號）。接著注意力會把本來不該碰在一起的片段混在一起，輸出就不再和 `MultiHeadAttention` 相符：圖的最後一列會顯示最大差異。只有一個頭時，兩種 reshape 剛好一致。
    """)
    return


@app.cell(hide_code=True)
def explorer_intro(mo):
    mo.md(r"""
    #### 探索多頭注意力

    在我們的句子上執行 `MultiHeadAttention(3, 12, 16, p, num_heads=h)`（模型寬度為 12，所以頭數必須能整除 12）。每個面板是一個頭的權重矩陣：列是查詢，行是鍵，加框的那一列是你選的查詢詞元。可以試試：

    * 增加頭數：每個頭分到的維度變少（$12 / h$），也各自形成不同的模式；
    * dropout：每個頭被隨機丟掉的權重都不一樣，各列的總和 $\Sigma$ 也不再是 1；
    * 關掉遮罩：每個詞元都能關注未來的詞元；
    * 關掉縮放：模式變得更尖銳。
    """)
    return


@app.cell
def heads_control(explorer, mo):
    num_heads = mo.ui.slider(steps=explorer.head_counts(), value=2, label="注意力頭數", show_value=True)
    return (num_heads,)


@app.cell
def mha_dropout_control(mo):
    dropout_rate = mo.ui.slider(0.0, 0.9, step=0.05, value=0.0, label="Dropout 比率 p", show_value=True)
    return (dropout_rate,)


@app.cell
def mha_length_control(example, mo):
    sequence_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="序列長度", show_value=True)
    return (sequence_length,)


@app.cell
def mha_query_control(TOKENS, mo):
    query_token = mo.ui.dropdown(
        options={f"{position + 1}. {token}": position for position, token in enumerate(TOKENS)},
        value=f"2. {TOKENS[1]}",
        label="查詢詞元",
    )
    return (query_token,)


@app.cell
def mha_causal_control(mo):
    causal_mask = mo.ui.switch(value=True, label="因果遮罩")
    return (causal_mask,)


@app.cell
def mha_scaled_control(mo):
    scale_by_sqrt_dk = mo.ui.switch(value=True, label="除以 √d_k")
    return (scale_by_sqrt_dk,)


@app.cell
def multihead_explorer(
    HEAD,
    TOKENS,
    WEIGHT_LABELS,
    attention_heatmaps,
    explorer,
    mo,
    num_heads,
    causal_mask,
    dropout_rate,
    sequence_length,
    query_token,
    scale_by_sqrt_dk,
):
    seq_len = sequence_length.value
    mha_view = explorer.explore_multihead(
        seq_len, num_heads.value, dropout_rate.value, causal=causal_mask.value, scaled=scale_by_sqrt_dk.value
    )
    # 控制項和網格並排在同一個輸出裡：每次調整本來就會重繪這個輸出。
    mo.hstack(
        [
            mo.vstack([num_heads, dropout_rate, sequence_length, query_token, causal_mask, scale_by_sqrt_dk], gap=1.25),
            attention_heatmaps(
                mha_view.weights,  # (heads, T, T)：注意力頭數 × 詞元數 × 詞元數
                TOKENS[:seq_len],
                titles=[f"{HEAD} {h + 1}" for h in range(mha_view.weights.shape[0])],
                masked=mha_view.masked,
                highlight_row=query_token.value if query_token.value < seq_len else None,
                show_row_sums=dropout_rate.value > 0,
                max_width=740,  # 控制項放在旁邊時，12 個注意力頭、16 個詞元的圖剛好放得進 1366 x 768 的螢幕
                max_height=720,
                **WEIGHT_LABELS,
            ),
        ],
        widths=[2, 5],  # 讓控制項旁邊留得下網格的 max_width
        align="start",
        gap=1.5,
    )
    return (mha_view,)


@app.cell(hide_code=True)
def exercise_3_3_text(mo):
    mo.md(r"""
    #### 練習 3.3 · 初始化 GPT-2 大小的注意力模組

    最小的 GPT-2 模型有 12 個注意力頭，輸入和輸出都是 768 維的嵌入向量，上下文長度（context length）是 1,024 個詞元。請填入建構子（constructor）的引數（argument）；檢查程式會計算你描述的模組有多少個參數（parameter）。
    """)
    return


@app.cell
def exercise_3_3_inputs(mo):
    gpt2_d_in = mo.ui.number(start=1, stop=4096, step=1, value=3, label="d_in")
    gpt2_d_out = mo.ui.number(start=1, stop=4096, step=1, value=2, label="d_out")
    gpt2_context = mo.ui.number(start=1, stop=4096, step=1, value=6, label="context_length")
    gpt2_heads = mo.ui.number(start=1, stop=64, step=1, value=2, label="num_heads")
    mo.hstack([gpt2_d_in, gpt2_d_out, gpt2_context, gpt2_heads], justify="start")
    return gpt2_context, gpt2_d_in, gpt2_d_out, gpt2_heads


@app.cell(hide_code=True)
def exercise_3_3_check(exercises, gpt2_context, gpt2_d_in, gpt2_d_out, gpt2_heads, mo):
    _check = exercises.check_gpt2_module(gpt2_d_in.value, gpt2_d_out.value, gpt2_context.value, gpt2_heads.value)
    _verdict = {
        "todo": mo.callout(mo.md("請在上方輸入四個值。"), kind="neutral"),
        "error": mo.callout(mo.md(f"無法建立這個模組：{_check.detail.get('error', '')}"), kind="danger"),
        "wrong": mo.callout(mo.md(f"還不是 GPT-2 的大小：這個模組有 {_check.detail.get('parameters', 0):,} 個參數。"), kind="warn"),
        "correct": mo.callout(mo.md(f"正確：共 {_check.detail.get('parameters', 0):,} 個參數，每個頭 {_check.detail.get('head_dim')} 個維度。"), kind="success"),
    }[_check.status]
    _solution = mo.md(
        "`MultiHeadAttention(768, 768, 1024, 0.0, num_heads=12)`：三個不含偏差項的 $768 \\times 768$ 投影，再加上含偏差項的 `out_proj`，共 $4 \\cdot 768^2 + 768 = 2{,}360{,}064$ 個參數。（GPT-2 的檢查點使用 `qkv_bias=True`，會再多出 $3 \\cdot 768$ 個。）"
    )
    mo.vstack([_verdict, mo.accordion({"顯示參考解答": _solution})])
    return


@app.cell(hide_code=True)
def same_weights_intro(equivalence, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### 同樣的權重，不同的程式碼

            3.6.1 的包裝器和 3.6.2 的權重切分算的是同一件事，PyTorch 的兩個版本也一樣。為了親眼看到，我們取一個有 4 個頭、$d_\text{out} = 12$ 的 `MultiHeadAttention`，把它的權重複製到另外三個實作：

            * 包裝器，4 個頭，寬度各為 $12 / 4 = 3$：頭 $k$ 拿到每個投影權重的第 $3k$ 到第 $3k + 2$ 列，因為 `nn.Linear` 把權重存成 $(d_\text{out}, d_\text{in})$，權重的一列對應輸出的一行（見下面的函式）；
            * `SDPAMultiHeadAttention`：參數名稱相同，所以一次 `load_state_dict` 就全部複製過去；
            * `torch.nn.MultiheadAttention`：它把 $W_q$、$W_k$、$W_v$ 疊成一個 `in_proj_weight`。

            包裝器沒有 `out_proj`，所以它的輸出要再經過權重切分的 `out_proj`。另外，`torch.nn.MultiheadAttention` 要求輸入和輸出一樣寬，所以這裡的六個詞元改用寬度 $d_\text{in} = 12$ 的隨機嵌入向量。

            """),
            mo.md(printout.source_markdown(equivalence.copy_into_wrapper)),
        ]
    )
    return


@app.cell
def same_weights_check(IMPLEMENTATION_NAMES, equivalence, mo):
    agreement = equivalence.same_weights(d_out=12, num_heads=4)  # 固定種子：每臺機器上都是同樣的數字
    _rows = [f"| {IMPLEMENTATION_NAMES[_name]} | {_difference:.2g} |" for _name, _difference in agreement.differences.items()]
    mo.md("\n".join(["| 實作 | 與權重切分的最大差異 |", "| :-- | --: |", *_rows]))
    return (agreement,)


@app.cell
def column_map(agreement, headfigures):
    headfigures.column_map_figure(
        agreement.head_columns,  # 比對張量找出來的，不是假設的
        {
            "columns": "並排的各個頭的行（也就是 out_proj 收到的輸入），依照給出相同數字的包裝器頭上色",
            "wrapper_head": "wrapper.heads",
        },
        alt="權重切分的哪幾行對應包裝器的哪個頭",
    )
    return


@app.cell(hide_code=True)
def same_weights_caption(mo):
    mo.md(r"""
    這些差異是 float32 的捨入誤差，大約 $10^{-7}$：四種實作把同樣的乘積以不同的順序相加。權重切分並排的各個頭裡，任何一行都等於包裝器某個頭輸出中的一行，圖中就依那個頭替這些行上色：頭 $k$ 擁有第 $3k$ 到第 $3k + 2$ 行。權重切分讓每個頭的數字聚在一起、依序排列，所以 `contiguous().view` 排出的各個頭，和包裝器的 `torch.cat` 完全一樣。
    """)
    return


@app.cell(hide_code=True)
def watch_intro(mo):
    mo.md(r"""
    ## 看注意力如何學習

    到目前為止，每張熱圖畫的都是剛初始化的權重，頭一多，各個面板看起來就差不多。讓每個頭變得不一樣的，是訓練。這一節不在書裡：我們在一個小到可以邊看邊學完的任務上，訓練一層 `MultiHeadAttention`（就是 3.6.2 的類別，連同它的因果遮罩和 dropout），再看看每個頭學到了什麼。

    **任務。** 輸入是由 $T$ 個隨機詞元組成的序列，詞彙表（vocabulary）只有 8 個詞元，以字母 A 到 H 表示。模型在每個位置都要說出往前固定距離的詞元，這些距離就是任務的偏移量（offsets）。偏移量為 1 和 3 時，要說出的就是前一個詞元和往前第三個詞元。詞元是隨機的，沒有規律可猜：模型必須回頭去看。

    **模型。** 詞元嵌入向量加上位置嵌入向量（position embeddings，寬度 32），接著是一層 `MultiHeadAttention(32, 32, T, dropout, num_heads=h)`，最後是一個線性讀出層（read-out），為每個偏移量預測一個詞元。除此之外，沒有別的路徑能把資訊從一個位置帶到另一個位置，所以要複製往前第三個詞元，就必須有某個頭把注意力權重放在那個鍵上。一個頭的權重每一列的總和都是 1：同時服務兩個偏移量的頭，只能把權重分給兩個鍵，傳下去的是兩個詞元混在一起的結果。
    """)
    return


@app.cell(hide_code=True)
def watch_code(mo, printout, training):
    mo.vstack(
        [
            mo.md(r"""
            以下是 `shared/training.py` 裡的模型和訓練迴圈。損失是每個偏移量預測的交叉熵（cross-entropy），再對所有偏移量加總：隨機猜測時，每個偏移量的損失是 $\ln 8 \approx 2.08$；完全複製正確時是 0。`draws` 是這次訓練自己的一串亂數（初始權重、批次、dropout 的遮罩），所以在共用的伺服器上，每位讀者用同一個隨機種子都會得到同一次訓練的結果。迴圈每 5 步存一份快照（snapshot）：每個頭在評估模式（eval mode，dropout 關閉）下，對一組固定測試序列（probe sequences）的權重。下方的步數滑桿就是在這些快照之間移動，不會重新訓練。
            """),
            mo.md(printout.source_markdown(training.CopyModel)),
            mo.md(printout.source_markdown(training.train)),
        ]
    )
    return


@app.cell(hide_code=True)
def watch_try(mo):
    mo.md(r"""
    #### 自己訓練看看

    選一個任務和頭數。新的設定一兩秒就能訓練完，訓練時會顯示進度條。伺服器會記住每一組設定，所以任何人訓練過的設定都會立刻出現。面板顯示每個頭在一條測試序列上的權重（查詢由上往下，鍵由左往右），圖表顯示損失，表格則為每個偏移量找出關注它最多的頭。當這個頭把至少 80 % 的注意力放在那裡，我們就說它「接手」了這個偏移量。可以試試：

    * **兩個頭，偏移量 1 和 3**（預設）。把步數滑桿從 0 開始往右拉。一開始，每個頭都把權重分散在前面的詞元上。到了第 50 步，一個頭幾乎把全部權重放在往前一個的鍵上（對角線正下方的一條亮線），另一個頭則放在往前三個的鍵上（再往下兩格的一條線），損失也從隨機猜測的水準降到接近 0。
    * **一個頭。** 它沒辦法把全部權重同時放在兩個鍵上，只好分開：大約 60 % 給往前一個，45 % 給往前三個（這兩個比例是對不同的查詢取平均，所以加起來不一定是 100 %）。損失停在 1 左右，離 0 很遠。
    * **四個頭。** 學得一樣快：兩個頭各接手一個偏移量，多出來的頭則偏向其中一個。
    * **往前第 1、2、4 個詞元**，先用兩個頭，再用四個頭。兩個頭時，每個頭都得把權重分給兩個偏移量，損失降不下來；四個頭時，每個偏移量都有自己的頭。
    * **下一個詞元。** 因果遮罩讓每個頭都看不到後面的鍵，所以沒有東西可學：損失一直停在隨機猜測的水準。這就是 3.5 的遮罩在發揮作用。
    * 訓練時的 **dropout** 會隨機把注意力權重歸零，有時剛好是某個頭最需要的那一個，所以訓練損失（淺色線）一直偏高，而關閉 dropout 時的損失（深色線）仍然下降。多出來的頭會變成備援：用四個頭預測前一個詞元、dropout 設為 0.5 時，四個頭全都學會同一個偏移量。
    * **三個頭**無法平分寬度 32；序列比任務需要的短，也就沒有那個位置：這兩種情況筆記本都會說明。**換一個隨機種子**，就從不同的權重開始：接手偏移量的會是別的頭，但結果一樣。
    """)
    return


@app.cell
def watch_task_control(mo):
    copy_task = mo.ui.dropdown(
        options={
            "前一個詞元（往前 1 個）": (1,),
            "往前第 1 和第 3 個詞元": (1, 3),
            "往前第 1、2、4 個詞元": (1, 2, 4),
            "下一個詞元（往後 1 個）": (-1,),
        },
        value="往前第 1 和第 3 個詞元",
        label="任務：預測",
    )
    return (copy_task,)


@app.cell
def watch_heads_control(mo):
    training_heads = mo.ui.slider(1, 4, value=2, debounce=True, label="頭數", show_value=True)
    return (training_heads,)


@app.cell
def watch_dropout_control(mo):
    training_dropout = mo.ui.slider(0.0, 0.5, step=0.1, value=0.0, debounce=True, label="訓練時的 dropout", show_value=True)
    return (training_dropout,)


@app.cell
def watch_tokens_control(mo, training):
    training_tokens = mo.ui.slider(steps=training.TOKEN_CHOICES, value=training.MAX_TOKENS, debounce=True, label="每個序列的詞元數", show_value=True)
    return (training_tokens,)


@app.cell
def watch_seed_control(mo):
    training_seed = mo.ui.number(start=0, stop=999, step=1, value=123, label="隨機種子")
    return (training_seed,)


@app.cell
def watch_controls(copy_task, mo, training_dropout, training_heads, training_seed, training_tokens):
    mo.vstack(
        [
            mo.hstack([copy_task, training_heads], justify="start", gap=2),
            mo.hstack([training_dropout, training_tokens, training_seed], justify="start", gap=2),
        ]
    )
    return


@app.cell
def watch_training(copy_task, mo, training, training_dropout, training_heads, training_seed, training_tokens):
    _heads, _tokens = training_heads.value, training_tokens.value
    watch_settings = dict(
        offsets=copy_task.value, num_heads=_heads, dropout=training_dropout.value, num_tokens=_tokens, seed=training_seed.value
    )
    watch_error = training.setup_error(**watch_settings)  # 這組設定可以訓練時為 None
    # 每組設定在每個伺服器上只訓練一次；預設設定從檔案載入，所以開啟筆記本時什麼都不用訓練。
    watch_run = None if watch_error else training.trained(training.Experiment(**watch_settings), title="正在訓練注意力層")
    _allowed = ", ".join(str(h) for h in training.head_counts())
    _farthest = max(abs(offset) for offset in copy_task.value)
    _messages = {
        "num_heads": f"**{_heads} 個頭無法平分 {training.WIDTH} 的寬度。** `MultiHeadAttention` 給每個頭相同的維度，所以頭數必須能整除 {training.WIDTH}：請從 {_allowed} 中選一個。",
        "offsets": f"**{_tokens} 個詞元的序列裡，沒有相隔 {_farthest} 個位置的詞元。** 這個任務至少需要 {_farthest + 1} 個詞元：請把詞元數的滑桿往右拉，或換一個任務。",
    }
    mo.callout(mo.md(_messages.get(watch_error.argument, str(watch_error))), kind="warn") if watch_error else None
    return (watch_run,)


@app.cell
def watch_step_control(mo, training):
    training_step = mo.ui.slider(0, training.STEPS, step=training.SNAPSHOT_EVERY, value=training.STEPS, label="訓練步數", show_value=True, full_width=True)
    training_step
    return (training_step,)


@app.cell
def watch_plots(HEAD, WEIGHT_LABELS, attention_heatmaps, charts, mo, training_step, watch_run):
    watch_snapshot = watch_run.at(training_step.value) if watch_run else None  # 評估模式，訓練了這麼多步之後
    _rows = []
    for _verdict in watch_run.verdicts(training_step.value) if watch_run else []:
        if _verdict.hidden:
            _rows.append(f"| 往後 {-_verdict.offset} 個 | 無 | 0% | 被因果遮罩擋住 |")
        elif _verdict.owned:
            _rows.append(f"| 往前 {_verdict.offset} 個 | {HEAD} {_verdict.head} | {_verdict.share:.0%} | 已接手 |")
        else:
            _rows.append(f"| 往前 {_verdict.offset} 個 | {HEAD} {_verdict.head} | {_verdict.share:.0%} | 沒有頭接手 |")
    mo.vstack(
        [
            attention_heatmaps(
                watch_snapshot.weights,  # (heads, T, T)：每個頭在一條測試序列上的權重
                watch_run.labels,
                titles=[f"{HEAD} {h + 1}" for h in range(watch_snapshot.weights.shape[0])],
                masked=watch_run.masked,
                **WEIGHT_LABELS,
            ),
            mo.hstack(
                [
                    charts.loss_chart(
                        watch_run.losses,
                        snapshot_steps=[s.step for s in watch_run.snapshots],
                        snapshot_losses=[s.loss for s in watch_run.snapshots],
                        chance=watch_run.chance,
                        step=training_step.value,
                        title="損失",
                        width=540,
                        xlabel="訓練步數",
                        ylabel="損失",
                        train_label="訓練批次（dropout 開啟）",
                        eval_label="測試序列（dropout 關閉）",
                        chance_label="隨機猜測",
                        marker_label=f"第 {watch_snapshot.step} 步：損失 {watch_snapshot.loss:.2f}",
                    ),
                    mo.md("\n".join(["| 要預測的詞元 | 關注最多的頭 | 注意力佔比 | 判定 |", "| :-- | :-- | --: | :-- |", *_rows])),
                ],
                widths=[1, 1],
                align="center",
                gap=1,
            ),
        ]
    ) if watch_run else None
    return (watch_snapshot,)


@app.cell(hide_code=True)
def bonus_text(mo):
    mo.md(r"""
    ## 延伸 · 高效率實作並排比較

    同一個因果多頭注意力，有四種計算方式：包裝器（3.6.1）、權重切分（3.6.2）、改用 PyTorch 融合運算核心（fused kernel）`scaled_dot_product_attention` 的權重切分（`SDPAMultiHeadAttention`），以及 `torch.nn.MultiheadAttention`。計時要花幾秒鐘，所以只有在你按下按鈕時才會執行。時間是中位數：PyTorch 找得到 GPU（NVIDIA 的 CUDA 或 Apple 的 MPS）時在本機的 GPU 上量測，否則在單一 CPU 執行緒上量測；圖表標題會寫出所用的裝置。專案儲存庫中的 `python -m benchmarks.attention_speed` 會測量更多種大小，在 GPU 上還會分別量出單次呼叫的時間與連續排隊呼叫的速率。
    """)
    return


@app.cell
def timing_control(mo):
    timing_button = mo.ui.run_button(label="測量四種實作的執行時間")
    timing_button
    return (timing_button,)


@app.cell
def timing_result(IMPLEMENTATION_NAMES, charts, devices, mo, timing, timing_button):
    mo.stop(not timing_button.value, mo.md("按下按鈕，就會開始計時。"))
    _device = devices.pick_device()  # 先找 CUDA，再找 Apple 的 MPS，都沒有就用 CPU
    _sizes = {
        "1 × 16 個詞元，寬度 12，2 個頭": timing.compare(1, 16, 12, 2, device=_device),
        "2 × 256 個詞元，寬度 768，12 個頭": timing.compare(2, 256, 768, 12, rounds=5, device=_device),
    }
    _title = f"前向傳遞的時間中位數（{devices.describe(_device)}）"
    charts.timing_chart(_sizes, names=IMPLEMENTATION_NAMES, title=_title, xlabel="毫秒")
    return


@app.cell(hide_code=True)
def summary(mo):
    mo.md(r"""
    ## 重點整理

    * 注意力把每個輸入詞元轉成一個**上下文向量**：對整個序列的加權總和，權重來自對相似度分數做 softmax。
    * 簡單的自注意力直接拿原始嵌入向量兩兩計算相似度分數；可訓練的自注意力則拿**查詢**和**鍵**比對，再混合**值**，而且分數要乘上 $1/\sqrt{d_k}$，讓 softmax 保持柔和。
    * **因果遮罩**讓詞元無法關注後面的詞元；由左往右書寫的語言模型必須如此。對權重套用 **dropout**，則能在訓練時發揮正則化（regularization）效果。
    * **多頭注意力**平行執行好幾個頭。把一個投影切分成多個頭，等同於堆疊各自獨立的頭，而且更快；`scaled_dot_product_attention` 這類融合運算核心又更快。
    * 下一步，第 4 章會把 `MultiHeadAttention` 放進 Transformer 區塊，並打造出 GPT。
    """)
    return


if __name__ == "__main__":
    app.run()
