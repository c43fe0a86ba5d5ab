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
# content-sha256: a0d13cb9a4177bb02877eb1944be9607fe8e741bc7c9c5bd4cbeb7dbb4edc995

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="第 3 章 · 實作注意力機制", css_file="marimo_ch03.css")


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
            edition_link("英文版：[English](marimo_ch03.py)"),
            mo.outline(label="目錄"),
        ]
    )
    return


@app.cell(hide_code=True)
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


@app.cell(hide_code=True)
def words():
    # 圖表上的詞元標籤：書中例句的中文版，延伸到十六個詞元。
    TOKENS = "你的 旅程 開始 於 一小 步 而 每個 新的 一步 都 建立在 之前的 每 一步 上".split()
    HEAD = "注意力頭"
    # 圖表裡的文字，以及練習的判定結果。
    WEIGHT_LABELS = {"colorbar_label": "權重", "row_axis_label": "查詢", "col_axis_label": "鍵", "masked_label": "已遮蔽：未來的詞元", "description": "注意力權重"}
    SCORE_LABELS = {**WEIGHT_LABELS, "colorbar_label": "分數", "description": "注意力分數"}
    STATUS_WORDS = {"todo": "尚未作答", "error": "發生錯誤", "wrong": "還不正確", "correct": "正確"}
    IMPLEMENTATION_NAMES = {"wrapper": "包裝器（3.6.1）", "split": "權重切分（3.6.2）", "sdpa": "SDPA", "torch": "torch.nn.MultiheadAttention"}
    # 裝置名稱與一串數值的寫法（devices.describe、printout.join_values）。
    DEVICE_WORDS = {"cpu": "CPU（{machine}，{threads} 個執行緒）", "cpu_one_thread": "CPU（{machine}，1 個執行緒）", "mps": "Apple GPU（MPS）"}
    LIST_PATTERN = "{earlier}、{later}"
    return DEVICE_WORDS, HEAD, IMPLEMENTATION_NAMES, LIST_PATTERN, SCORE_LABELS, STATUS_WORDS, TOKENS, WEIGHT_LABELS


@app.cell
def notebook_locale():
    # 這份筆記本的語言：取自 shared/ 的程式碼，註解以這個語言顯示。
    LOCALE = "zh_TW"
    return (LOCALE,)


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
def control_words(LIST_PATTERN):
    # 伺服器會依每個控制項自己的範圍與選項，檢查它收到的值
    # （shared/controls.py）；不符合的值不會被採用，並告訴讀者。
    from shared import controls as _controls

    _controls.refuse_with(
        {
            "title": "未採用：{label}",
            "range": "請選 {start} 到 {stop} 之間的數；頁面送來的是 {value}。",
            "steps": "請選 {start} 到 {stop} 之間、間隔 {step} 的數；頁面送來的是 {value}。",
            "choices": "請從這些選項中選一個：{choices}；頁面送來的是 {value}。",
            "empty": "請選 {start} 到 {stop} 之間的數；欄位是空的。",
            "other": "這個控制項不接受 {value}。",
            "kept": "它維持在 {kept}。",
            "unlabelled": "一個控制項",
            "list": LIST_PATTERN,
            "busy": "**伺服器正忙：**已經有 {waiting} 個訓練在排隊。請試試內文建議的設定（它們會優先訓練），或過一分鐘再試這個設定。",
            "queued": "前面還有 {ahead} 個；訓練完成後，你的其他控制項才會回應",
        }
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

    我們的輸入是書中的句子「Your journey starts with one step」，圖中的中文標籤逐詞對應為「你的 旅程 開始 於 一小 步」。它有六個詞元，每個都已經轉成三維的嵌入向量（embedding vector）$x^{(1)}, \dots, x^{(6)}$（真實的模型用到數百甚至數千個維度；三維才畫得進圖裡）。對每個詞元 $i$，我們要算出一個上下文向量 $z^{(i)}$，也就是所有輸入的加權總和：

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
                r"在多頭注意力（3.6.2）中，$d_k$ 是*單一個頭*的寬度 `head_dim` $= d_\text{out} / h$，而不是 $d_\text{out}$：每個頭的查詢和鍵有 `head_dim` 個分量，多頭切分之後的 `keys.shape[-1]` 就是它。"
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
def s3_4_2(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.4.2 實作精簡的自注意力 Python 類別

            把同樣的步驟一次套用到所有詞元，包成一個 PyTorch 模組。下面就是實際執行的程式碼（取自 `shared/attention.py`），而且只有本章的步驟：圖表是從外面讀取權重的，做法是觀察這個 `forward` 的執行過程（`forward_with_weights`）。

            """),
            mo.md(printout.source_markdown(attention.SelfAttention_v1, LOCALE)),
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
def v2_intro(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            `nn.Linear` 層做的是同樣的乘法，但它初始化權重的方式更適合訓練，也能加上偏差項（bias）。這個版本 `SelfAttention_v2` 就是我們接下來的基礎：

            """),
            mo.md(printout.source_markdown(attention.SelfAttention_v2, LOCALE)),
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

    請把 `sa_v2` 的權重交給 `sa_v1`，讓 `sa_v1` 的輸出和 `sa_v2` 完全相同。提示：`nn.Linear` 以 $(d_\text{out}, d_\text{in})$ 的形狀儲存權重矩陣。下面四種複製方式，哪一種做得到？選好之後按下**檢查**：檢查程式會在上面那兩個模組上執行你選的複製方式。
    """)
    return


@app.cell(hide_code=True)
def exercise_3_1_candidates(LOCALE, exercises, mo, printout):
    _blocks = ["**" + _name + "**\n\n" + printout.source_markdown(_copy, LOCALE) for _name, _copy in exercises.CANDIDATES.items()]
    mo.hstack([mo.vstack([mo.md(_blocks[0]), mo.md(_blocks[1])]), mo.vstack([mo.md(_blocks[2]), mo.md(_blocks[3])])], gap=2)
    return


@app.cell
def exercise_3_1_input(exercises, mo):
    choice_3_1 = mo.ui.radio(options=list(exercises.CANDIDATES), value=None, inline=True, label="可行的複製方式")
    check_3_1 = mo.ui.run_button(label="檢查")
    mo.hstack([choice_3_1, check_3_1], justify="start", align="center")
    return check_3_1, choice_3_1


@app.cell(hide_code=True)
def exercise_3_1_own(mo):
    mo.md(r"""
    *在 `marimo edit` 或 Jupyter 裡，你也可以自己寫出複製的程式：* 在下一個儲存格填好 `transfer_weights`，並設定 `answer_3_1 = transfer_weights`；之後按下**檢查**，檢查的就是你的函式，而不是上面選的複製方式。
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
def exercise_3_1_check(answer_3_1, check_3_1, choice_3_1, exercises, mo):
    mo.stop(not check_3_1.value, mo.md("*請選一種複製方式（或自己寫一個），再按下**檢查**。*"))
    _choice = choice_3_1.value
    _check = exercises.check_candidate(_choice) if answer_3_1 is None else exercises.check_weight_transfer(answer_3_1)
    _which = "你的 `transfer_weights`" if answer_3_1 is not None else f"複製方式 {_choice}"
    _verdict = {
        "todo": mo.callout(mo.md("還沒有可以檢查的答案：請先從四種複製方式中選一種。"), kind="neutral"),
        "invalid": mo.callout(mo.md("這不是四種複製方式之一：請選 A、B、C 或 D。"), kind="danger"),
        "error": mo.callout(mo.md(f"PyTorch 拒絕執行 {_which}：`{_check.detail.get('error', '')}`。"), kind="danger"),
        "wrong": mo.callout(mo.md(f"還不正確：用了 {_which} 之後，`sa_v1` 和 `sa_v2` 的輸出最大仍差 {_check.detail.get('max_difference', 0):.4f}。"), kind="warn"),
        "correct": mo.callout(mo.md(f"正確：用了 {_which} 之後，`sa_v1` 算出的結果和 `sa_v2` 完全相同。"), kind="success"),
    }[_check.status]
    _verdict
    return


@app.cell(hide_code=True)
def exercise_3_1_solution(LOCALE, STATUS_WORDS, exercises, mo, printout):
    _solution = mo.vstack(
        [
            mo.md(printout.source_markdown(exercises.solution_weight_transfer, LOCALE)),
            mo.md(f"這份參考解答的檢查結果：**{STATUS_WORDS[exercises.check_weight_transfer(exercises.solution_weight_transfer).status]}**。"),
        ]
    )
    mo.accordion({"顯示參考解答": _solution})
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
    畫斜線的格子已被遮蔽：鍵排在查詢之後，所以權重就是精確的 0。這和很小的權重不同：小權重是模型算出來的，本來也可能更大。關掉遮罩，上三角就會填滿。最右側的 $\Sigma$ 欄是每一列的總和：不論有沒有遮罩，永遠是 1。
    """)
    return


@app.cell(hide_code=True)
def mask_routes_intro(LOCALE, equivalence, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### 兩條路，同樣的權重

            書中用兩種方式套用遮罩。第一種先對每個分數取 softmax，把未來詞元的權重設為 0，再把每一列除以它新的總和，讓這一列的總和重新等於 1。第二種則把未來的**分數**設為 $-\infty$，只取一次 softmax。下面這個函式兩種都做：

            """),
            mo.md(printout.source_markdown(equivalence.mask_routes, LOCALE)),
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
def s3_5_3(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.5.3 實作精簡的因果自注意力類別

            這個類別在 `SelfAttention_v2` 之上多做了三件事：它可一次接受整批（batch）序列，形狀為 $(b, T, d_\text{in})$；它把遮罩存成緩衝區（buffer），會跟著模組移到其他裝置（device），但永遠不參與訓練；它還會對權重套用 dropout。

            """),
            mo.md(printout.source_markdown(attention.CausalAttention, LOCALE)),
        ]
    )
    return


@app.cell
def causal_class(attention, inputs, printout, seeded, torch):
    batch = torch.stack((inputs, inputs))  # (2, 6, 3)：同一個句子的兩份副本
    with seeded(123):
        ca = attention.CausalAttention(3, 2, batch.shape[1], 0.0)
    context_vecs = ca(batch)  # (2, 6, 2)
    printout.labelled(("context_vecs.shape:", context_vecs.shape), ("context_vecs:", context_vecs))
    return (batch,)


@app.cell(hide_code=True)
def buffer_intro(LOCALE, buffers, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### 為什麼遮罩是緩衝區（buffer）

            `CausalAttention` 用 `self.register_buffer("mask", ...)` 儲存它的遮罩。如果改成普通的屬性 `self.mask = ...`，會出什麼問題？下面就是這個版本，其餘和原本的類別完全相同：
            """),
            mo.md(printout.source_markdown(buffers.CausalAttentionPlainMask, LOCALE)),
            mo.md(r"""
            下面的儲存格用同一個種子建立這兩個版本，再用 `.to(...)` 把它們各自搬到另一個裝置：如果這臺電腦有 GPU（CUDA 或 Apple 的 MPS），就搬到 GPU；另外也搬到 PyTorch 的 `meta` 裝置，每臺電腦都有它（它的張量只有形狀，沒有資料）。在 GPU 上，它還會在本章的批次上執行兩者。
            """),
        ]
    )
    return


@app.cell
def buffer_facts(DEVICE_WORDS, attention, batch, buffers, devices, mo, seeded):
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
            mo.md(f"這臺機器上最好的裝置：**{devices.describe(reader_device, DEVICE_WORDS)}**"),
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
def s3_6(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ## 3.6 把單頭注意力擴充為多頭注意力

            ### 3.6.1 堆疊多個單頭注意力層

            一個注意力頭（head）學會一種詞元之間的關聯方式。多個頭各有自己的 $W_q, W_k, W_v$，就能同時學會好幾種，這就是多頭注意力（multi-head attention）。最直接的做法，是讓 $h$ 個因果注意力頭並排執行，再把它們的輸出串接（concatenate）起來，所以輸出寬度是 $h \cdot d_\text{out}$：

            """),
            mo.md(printout.source_markdown(attention.MultiHeadAttentionWrapper, LOCALE)),
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

    維持 `num_heads=2`。`d_out` 要設成多少，包裝器（wrapper）回傳的上下文向量寬度才會是 2？請輸入 1 到 16 之間的整數，再按下**檢查**：檢查程式會建立這個包裝器，並在批次資料上執行它。
    """)
    return


@app.cell
def exercise_3_2_input(mo):
    answer_3_2 = mo.ui.number(step=1, label="每個頭的 d_out")
    check_3_2 = mo.ui.run_button(label="檢查")
    mo.hstack([answer_3_2, check_3_2], justify="start", align="end")
    return answer_3_2, check_3_2


@app.cell(hide_code=True)
def exercise_3_2_check(answer_3_2, check_3_2, exercises, mo):
    mo.stop(not check_3_2.value, mo.md("*請輸入你的 `d_out`，再按下**檢查**。*"))
    _check = exercises.check_wrapper_width(answer_3_2.value)
    _detail = _check.detail
    _verdict = {
        "todo": mo.callout(mo.md("還沒有可以檢查的答案：請先輸入一個數字。"), kind="neutral"),
        "invalid": mo.callout(mo.md(f"`{_detail.get('argument')}` 必須是 {_detail.get('low')} 到 {_detail.get('high')} 之間的整數；收到的是 {_detail.get('value')}。什麼都沒有建立。"), kind="danger"),
        "wrong": mo.callout(mo.md(f"還不正確：`d_out = {_detail.get('d_out')}` 時，包裝器回傳的向量寬度是 {_detail.get('width')}。"), kind="warn"),
        "correct": mo.callout(mo.md("正確：兩個寬度為 1 的頭串接起來，就得到二維向量。"), kind="success"),
    }[_check.status]
    _verdict
    return


@app.cell(hide_code=True)
def exercise_3_2_solution(exercises, mo):
    mo.accordion(
        {
            "顯示參考解答": mo.md(
                f"輸出寬度 = `num_heads * d_out`，所以兩個頭時 `d_out = {exercises.SOLUTION_WRAPPER_D_OUT}`：`MultiHeadAttentionWrapper(3, 1, 6, 0.0, num_heads=2)`。"
            )
        }
    )
    return


@app.cell(hide_code=True)
def s3_6_2(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.6.2 以權重切分實作多頭注意力

            包裝器是一個頭接著一個頭執行。`MultiHeadAttention` 則對查詢、鍵、值各只用**一個**
            $d_\text{in} \times d_\text{out}$ 投影，再改變形狀（reshape），把結果切成 $h$ 個寬度為 $d_\text{head} = d_\text{out} / h$ 的頭：$(b, T, d_\text{out}) \to (b, T, h, d_\text{head}) \to (b, h, T, d_\text{head})$。接著，所有頭在一次批次矩陣乘法中一起算完，最後由線性層 `out_proj`
            混合串接後的各個頭。

            """),
            mo.md(printout.source_markdown(attention.MultiHeadAttention, LOCALE)),
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
    #### 逐步看懂多頭切分

    每個頭分到的那一份 $d_\text{out}$ 去了哪裡？下圖用一個真實模組的權重，在本章的批次（我們六個詞元的兩份副本，$d_\text{in} = 3$）上重播 `MultiHeadAttention` 的 `forward`，也就是多頭切分（head split）的過程：圖中每一列對應一行程式碼。左邊是那一行程式碼，以及它產生的張量的形狀、`stride()` 和 `is_contiguous()`，全都直接從那個張量讀出來。右邊是張量本身，畫的是批次中的第一個序列。

    每個張量都按同一條規則來畫：批次之後的第一個軸變成並排的面板，最後兩個軸是每個面板的列與行。所以 $(T, h, d_\text{head})$ 是 $T$ 個面板，每個詞元一個（編號在上方），每個頭佔一列；$(h, T, d_\text{head})$ 是 $h$ 個面板，每個頭一個，每個詞元佔一列。數字的顏色代表它屬於哪個頭，深淺代表它的大小；列左邊的小數字，是那一列來自哪個詞元。

    每個張量下方有兩條細帶，把同樣的數字排成一行，按頭上色：**記憶體**是這塊數字在記憶體中的排列順序，**讀取**是張量的形狀讀取它們的順序（一個面板接一個面板，一列接一列）。兩者不同時，第二條的標籤會變成紅色。

    跟著顏色看。`view` 把每個詞元那一列的 $d_\text{out}$ 個數字切成 $h$ 段，每段 $d_\text{head} = d_\text{out} / h$ 個。`transpose(1, 2)` 把每個頭的各段集中起來，變成它自己的 $(T, d_\text{head})$ 矩陣，於是一次批次矩陣乘法 `@` 就能算出每個頭的 $(T, T)$ 分數；它的記憶體細帶完全沒變，變的只有讀取順序。回程時，`transpose(1, 2)` 和 `contiguous().view` 再把各個頭並排放回去，每個頭回到它原本的那幾行，最後由 `out_proj` 把它們混合。試試 1、4 和 12 個頭、更寬的模型，以及錯誤的 reshape。
    """)
    return


@app.cell
def head_split_controls(headsplit, mo):
    # 在同一個儲存格裡建立並顯示：移動控制項時，只會重新執行圖的儲存格，不會連帶執行另一個版面配置儲存格。
    split_num_heads = mo.ui.slider(steps=list(headsplit.HEAD_COUNTS), value=4, label="注意力頭數", show_value=True)
    split_d_out = mo.ui.slider(steps=list(headsplit.WIDTHS), value=12, label="模型寬度 d_out", show_value=True)
    wrong_reshape = mo.ui.switch(value=False, label="錯誤的 reshape：直接 view 成 (b, h, T, d_head)")
    mo.hstack([split_num_heads, split_d_out, wrong_reshape], justify="start", gap=2)
    return split_d_out, split_num_heads, wrong_reshape


@app.cell
def head_split_words():
    # 多頭切分圖裡的文字（圖中的程式碼保持原樣）。
    SPLIT_WORDS = {
        "projection": "查詢的投影：每個頭一種顏色",
        "split": "每個詞元的列切成 h 段，每個頭一段",
        "split_wrong": "h 塊記憶體被當成 h 個頭，每塊的列混雜了好幾個詞元、好幾個頭的數字",
        "heads": "頭在詞元之前：每個頭一個 (T, d_head) 矩陣",
        "skipped": "略過：沒有轉置",
        "weights": "每個頭的注意力權重",
        "context": "每個頭的上下文向量",
        "back": "詞元再回到頭之前",
        "merged": "各個頭再次並排，回到各自原本的直行",
        "output": "out_proj 混合各個頭",
        "view_fails": "沒有 contiguous()，view 會失敗：",
        "view_works": "這裡即使沒有 contiguous()，view 也能成功：只有一個頭，或每個頭只有一個數字時，要合併的軸在記憶體中仍以固定的步幅前進",
        "memory": "記憶體",
        "reading": "讀取",
        "difference": "與 MultiHeadAttention 的最大差異：",
        "rows": "每列左邊的小數字，代表該列來自哪個詞元：",
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
        alt=f"MultiHeadAttention 的多頭切分過程，逐步呈現：{_heads} 個頭，d_out = {_width}",
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
def same_weights_intro(LOCALE, equivalence, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### 同樣的權重，不同的程式碼

            3.6.1 的包裝器和 3.6.2 的權重切分算的是同一件事，PyTorch 的兩個版本也一樣。為了親眼看到，我們取一個有 4 個頭、$d_\text{out} = 12$ 的 `MultiHeadAttention`，把它的權重複製到另外三個實作：

            * 包裝器，4 個頭，寬度各為 $12 / 4 = 3$：頭 $k$ 拿到每個投影權重的第 $3k$ 到第 $3k + 2$ 列，因為 `nn.Linear` 把權重存成 $(d_\text{out}, d_\text{in})$，權重的一列對應輸出的一個直行（見下面的函式）；
            * `SDPAMultiHeadAttention`：參數名稱相同，所以一次 `load_state_dict` 就全部複製過去；
            * `torch.nn.MultiheadAttention`：它把 $W_q$、$W_k$、$W_v$ 疊成一個 `in_proj_weight`。

            包裝器沒有 `out_proj`，所以它的輸出要再經過權重切分的 `out_proj`。另外，`torch.nn.MultiheadAttention` 要求輸入和輸出一樣寬，所以這裡的六個詞元改用寬度 $d_\text{in} = 12$ 的隨機嵌入向量。

            """),
            mo.md(printout.source_markdown(equivalence.copy_into_wrapper, LOCALE)),
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
            "columns": "並排各頭的每個直行（即 out_proj 的輸入），依包裝器中算出相同數字的那個頭上色",
            "wrapper_head": "wrapper.heads",
        },
        alt="權重切分的哪幾個直行對應包裝器的哪個頭",
    )
    return


@app.cell(hide_code=True)
def same_weights_caption(mo):
    mo.md(r"""
    這些差異是 float32 的捨入誤差，大約 $10^{-7}$：四種實作把同樣的乘積以不同的順序相加。權重切分並排的各個頭裡，每一個直行都等於包裝器某個頭輸出中的一個直行，圖中就依那個頭替這些直行上色：頭 $k$ 擁有第 $3k$ 到第 $3k + 2$ 個直行。權重切分讓每個頭的數字聚在一起、依序排列，所以 `contiguous().view` 排出的各個頭，和包裝器的 `torch.cat` 完全一樣。
    """)
    return


@app.cell(hide_code=True)
def explorer_intro(mo):
    mo.md(r"""
    #### 探索多頭注意力

    在我們的句子上執行 `MultiHeadAttention(3, 12, 16, p, num_heads=h)`（模型寬度為 12，所以頭數必須能整除 12）。每個面板是一個頭的權重矩陣：列是查詢，行是鍵，加框的那一列是你選的查詢詞元。

    這些權重是剛初始化的：這個模組還沒有人訓練過。它的輸入只有三個維度，而 `nn.Linear` 一開始的權重是很小的亂數，所以分數都很小，每一次 softmax 都接近把權重平均分給查詢看得到的詞元。這就是這裡的各個頭看起來差不多的原因（圖下方的文字會量出差多少）。要等訓練讓各個頭分工，它們才會分道揚鑣：下面的〈看注意力如何學習〉訓練的就是這同一個類別。可以試試：

    * 增加頭數：每個頭處理的維度變少，$d_k = 12 / h$；
    * dropout：每個頭被丟掉的權重都不一樣，留下的權重乘上 $1 / (1 - p)$，各列的總和 $\Sigma$ 也不再是 1；
    * 關掉遮罩：每個詞元都能關注未來的詞元；
    * 縮放開關：它把每個頭的分數除以 $\sqrt{d_k}$；只有一個頭時是 $\sqrt{12} \approx 3.46$，十二個頭時是 $\sqrt{1} = 1$，這時開關完全沒有作用。
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
def explorer_caption(causal_mask, explorer, mo, num_heads, scale_by_sqrt_dk, sequence_length):
    # 在上面的權重上量測（不含 dropout），所以每一句話說的都是這張圖顯示的內容。
    _facts = explorer.head_facts(sequence_length.value, num_heads.value, causal=causal_mask.value, scaled=scale_by_sqrt_dk.value)
    _heads = (
        "只有一個頭：沒有其他頭可以比較。"
        if _facts.largest_head_difference is None
        else f"這 {_facts.num_heads} 個頭看起來差不多：任兩個頭之間，沒有任何權重相差超過 {_facts.largest_head_difference:.2f}。"
        if _facts.alike
        else f"這 {_facts.num_heads} 個頭並不相同：有一個權重在兩個頭之間相差 {_facts.largest_head_difference:.2f}。"
    )
    _scaling = (
        f"每個頭有 $d_k = 12 / {_facts.num_heads} = 1$ 個維度，而 $\\sqrt{{1}} = 1$：這裡縮放開關完全沒有作用。"
        if _facts.head_dim == 1
        else f"每個頭有 $d_k = 12 / {_facts.num_heads} = {_facts.head_dim}$ 個維度，所以開關會把分數除以 $\\sqrt{{{_facts.head_dim}}} \\approx {_facts.divisor:.2f}$；切換它，任何權重的變化都不超過 {_facts.scaling_change:.2f}。"
    )
    mo.md(
        f"{_heads}每一列都接近把權重平均分給查詢看得到的鍵：一列中最大的權重，最多僅比平均分配的份額高 {_facts.largest_excess:.2f}。{_scaling}"
    )
    return


@app.cell(hide_code=True)
def exercise_3_3_text(mo):
    mo.md(r"""
    #### 練習 3.3 · 初始化 GPT-2 大小的注意力模組

    最小的 GPT-2 模型有 12 個注意力頭，輸入和輸出都是 768 維的嵌入向量，上下文長度（context length）是 1,024 個詞元。請填入建構子（constructor）的四個引數（argument）（大小介於 1 到 4,096，頭數介於 1 到 64），再按下**檢查**：檢查程式會建立你描述的模組，並計算它有多少個參數（parameter）。
    """)
    return


@app.cell
def exercise_3_3_inputs(mo):
    gpt2_d_in = mo.ui.number(step=1, label="d_in")
    gpt2_d_out = mo.ui.number(step=1, label="d_out")
    gpt2_context = mo.ui.number(step=1, label="context_length")
    gpt2_heads = mo.ui.number(step=1, label="num_heads")
    check_3_3 = mo.ui.run_button(label="檢查")
    mo.hstack([gpt2_d_in, gpt2_d_out, gpt2_context, gpt2_heads, check_3_3], justify="start", align="end")
    return check_3_3, gpt2_context, gpt2_d_in, gpt2_d_out, gpt2_heads


@app.cell(hide_code=True)
def exercise_3_3_check(check_3_3, exercises, gpt2_context, gpt2_d_in, gpt2_d_out, gpt2_heads, mo):
    mo.stop(not check_3_3.value, mo.md("*請填好四個數值，再按下**檢查**。*"))
    _check = exercises.check_gpt2_module(gpt2_d_in.value, gpt2_d_out.value, gpt2_context.value, gpt2_heads.value)
    _detail = _check.detail
    _refused = (
        f"`num_heads = {_detail.get('value')}` 無法整除 `d_out = {_detail.get('d_out')}`：每個頭分到 `d_out / num_heads` 個維度，所以這必須是整數。什麼都沒有建立。"
        if "d_out" in _detail
        else f"`{_detail.get('argument')}` 必須是 {_detail.get('low')} 到 {_detail.get('high')} 之間的整數；收到的是 {_detail.get('value')}。什麼都沒有建立。"
    )
    _verdict = {
        "todo": mo.callout(mo.md("還沒有可以檢查的答案：請先填好四個數值。"), kind="neutral"),
        "invalid": mo.callout(mo.md(_refused), kind="danger"),
        "wrong": mo.callout(mo.md(f"還不是 GPT-2 的大小：這個模組有 {_detail.get('parameters', 0):,} 個參數。"), kind="warn"),
        "correct": mo.callout(mo.md(f"正確：共 {_detail.get('parameters', 0):,} 個參數，每個頭 {_detail.get('head_dim')} 個維度。"), kind="success"),
    }[_check.status]
    _verdict
    return


@app.cell(hide_code=True)
def exercise_3_3_solution(mo):
    _solution = mo.md(
        "`MultiHeadAttention(768, 768, 1024, 0.0, num_heads=12)`：三個不含偏差項的 $768 \\times 768$ 投影，再加上含偏差項的 `out_proj`，共 $4 \\cdot 768^2 + 768 = 2{,}360{,}064$ 個參數。（GPT-2 的檢查點（checkpoint，即公開的預訓練權重）使用 `qkv_bias=True`，會再多出 $3 \\cdot 768$ 個。）"
    )
    mo.accordion({"顯示參考解答": _solution})
    return


@app.cell(hide_code=True)
def watch_intro(mo):
    mo.md(r"""
    ## 看注意力如何學習

    到目前為止，每張熱圖（heatmap）畫的都是剛初始化的權重，頭一多，各個面板看起來就差不多。讓每個頭變得不一樣的，是訓練。這一節不在書裡：我們在一個夠小、你在旁邊看著就能學完的任務上，訓練一層 `MultiHeadAttention`（就是 3.6.2 的類別，連同它的因果遮罩和 dropout），再看看每個頭學到了什麼。

    **任務。** 輸入是由 $T$ 個隨機詞元組成的序列，詞彙表（vocabulary）只有 8 個詞元，以字母 A 到 H 表示。模型在每個位置都要說出往前固定距離的詞元，這些距離就是任務的偏移量（offsets）。偏移量為 1 和 3 時，要說出的就是前一個詞元和往前第三個詞元。詞元是隨機的，沒有規律可猜：模型必須回頭去看。

    **模型。** 詞元嵌入向量加上位置嵌入向量（position embeddings，寬度 32），接著是一層 `MultiHeadAttention(32, 32, T, dropout, num_heads=h)`，最後是一個線性讀出層（read-out），為每個偏移量預測一個詞元。除此之外，沒有別的路徑能把資訊從一個位置帶到另一個位置，所以要複製往前第三個詞元，就必須有某個頭把注意力權重放在那個鍵上。一個頭的權重每一列的總和都是 1：同時負責兩個偏移量的頭，只能把權重分給兩個鍵，傳下去的是兩個詞元混在一起的結果。
    """)
    return


@app.cell(hide_code=True)
def watch_code(LOCALE, mo, printout, training):
    mo.vstack(
        [
            mo.md(r"""
            以下是 `shared/training.py` 裡的模型和訓練迴圈。損失是每個偏移量預測的交叉熵（cross-entropy），再對所有偏移量加總：隨機猜測時，每個偏移量的損失是 $\ln 8 \approx 2.08$；完全複製正確時是 0。`draws` 是這次訓練自己的一串亂數（初始權重、批次、dropout 的遮罩），所以在共用的伺服器上，每位讀者用同一個隨機種子都會得到同一次訓練的結果，在任何行程（process）裡都一樣。訓練每走完 $1/80$，迴圈就存一份快照（snapshot）：每個頭在評估模式（eval mode，dropout 關閉）下，對一組固定觀測序列（probe sequences）的權重，以及每個偏移量答對的比例。下方的步數滑桿就是在這些快照之間移動，不會重新訓練。
            """),
            mo.md(printout.source_markdown(training.CopyModel, LOCALE)),
            mo.md(printout.source_markdown(training.train, LOCALE)),
        ]
    )
    return


@app.cell(hide_code=True)
def watch_try(mo):
    mo.md(r"""
    ### 自己訓練看看

    選一個任務和頭數。400 步的新設定一兩秒就能訓練完，訓練時會顯示進度條；伺服器會記住每一組設定，所以任何人訓練過的設定都會立刻出現。把步數滑桿從 0 開始往右拉：面板顯示每個頭在一條觀測序列上的權重（查詢由上往下，鍵由左往右），圖表顯示損失，表格則列出每個偏移量模型答對多少，以及各個頭怎麼處理它。判定的用語如下：某個頭把至少 80% 的權重放在該偏移量的鍵上，就是**由頭 $k$ 認領**；好幾個頭一起帶著它，就是**分散在幾個頭**；一個頭同時帶著它和另一個偏移量，就是**混在一個頭裡**；答對的比例不到 90% 時，就是**尚未學會**。可以試試：

    * **兩個頭，偏移量 1 和 3**（預設）。第 0 步時，每個頭都把權重分散在前面的詞元上。前 100 步之內，一個頭認領往前一個的鍵（對角線正下方的一條亮線），另一個頭認領往前三個的鍵（再往下兩格的一條線），損失也從隨機猜測的水準降到接近 0。
    * **一個頭。** 它每一列的權重總和是 1，所以只能同時帶著兩個鍵，把兩個詞元混在一起交給讀出層。到第 400 步，損失還在下降：一個偏移量已經從混合裡學會，另一個還沒有。選 2,000 步看看它最後能走到哪裡（下面第一個實驗會請你先猜）。
    * **四個頭。** 其中兩個頭認領兩個偏移量，但比只有兩個頭時晚。
    * **往前第 1、2、4 個詞元**，先用兩個頭，再用四個頭。兩個頭時，損失仍然降到遠低於隨機猜測：至少有一個偏移量是混在頭裡帶著的。四個頭時，每個偏移量都由自己的頭認領。
    * **Dropout** 在訓練時會隨機把注意力權重歸零，有時剛好是某個頭最需要的那一個，所以訓練損失（淺色線）一直高於關閉 dropout 時的損失（深色線）。用四個頭預測前一個詞元時，不論有沒有 dropout，每個頭最後都會看向前一個詞元；dropout 讓它們更集中。
    * **因果遮罩**、**位置嵌入**和「**這個詞元之前出現過嗎？**」這個任務，下面各有一個實驗。**三個頭**無法平分寬度 32；序列比任務需要的短，也就沒有那個位置：這兩種情況筆記本都會說明。**換一個隨機種子**（0 到 9999 的整數），就從不同的權重開始：認領偏移量的會是別的頭。
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
            "這個詞元之前出現過嗎？": "seen",
        },
        value="往前第 1 和第 3 個詞元",
        label="預測目標",
    )
    return (copy_task,)


@app.cell
def watch_heads_control(mo):
    training_heads = mo.ui.slider(1, 4, value=2, debounce=True, label="注意力頭數", show_value=True)
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
def watch_seed_control(mo, training):
    training_seed = mo.ui.number(start=0, stop=training.SEED_BOX_MAX, step=1, value=123, label="隨機種子（0 到 9999）")
    return (training_seed,)


@app.cell
def watch_steps_control(mo):
    training_steps = mo.ui.dropdown(
        options={"400（1 到 2 秒）": 400, "1,200（3 到 5 秒）": 1200, "2,000（5 到 8 秒）": 2000},
        value="400（1 到 2 秒）",
        label="訓練步數（新設定所需時間）",
    )
    return (training_steps,)


@app.cell
def watch_causal_control(mo):
    training_causal = mo.ui.switch(value=True, label="因果遮罩")
    return (training_causal,)


@app.cell
def watch_positions_control(mo):
    training_positions = mo.ui.switch(value=True, label="位置嵌入")
    return (training_positions,)


@app.cell
def watch_controls(copy_task, mo, training_causal, training_dropout, training_heads, training_positions, training_seed, training_steps, training_tokens):
    mo.vstack(
        [
            mo.hstack([copy_task, training_heads, training_steps], justify="start", gap=2),
            mo.hstack([training_dropout, training_tokens, training_seed], justify="start", gap=2),
            mo.hstack([training_causal, training_positions], justify="start", gap=2),
        ]
    )
    return


@app.cell
def watch_training(LIST_PATTERN, copy_task, mo, printout, training, training_causal, training_dropout, training_heads, training_positions, training_seed, training_steps, training_tokens):
    _heads, _tokens, _task, _steps = training_heads.value, training_tokens.value, copy_task.value, training_steps.value
    watch_settings = dict(
        **training.task_settings(_task), num_heads=_heads,
        dropout=training_dropout.value, num_tokens=_tokens, seed=training.box_seed(training_seed.value),
        steps=_steps, causal=training_causal.value, positions=training_positions.value,
    )
    watch_error = training.setup_error(**watch_settings)  # 這組設定可以訓練時為 None
    # 每組設定在每個伺服器上只訓練一次；預設設定從檔案載入，所以開啟筆記本時什麼都不用訓練。
    watch_run = None if watch_error else training.trained(training.Experiment(**watch_settings), title=f"訓練 {_steps} 步")
    _allowed = printout.join_values(training.head_counts(), LIST_PATTERN)
    _farthest = max((abs(_o) for _o in watch_settings["offsets"] if isinstance(_o, int)), default=0)
    _messages = {
        "num_heads": f"**{_heads} 個頭無法平分 {training.WIDTH} 的寬度。** `MultiHeadAttention` 給每個頭相同的維度，所以頭數必須能整除 {training.WIDTH}：請從 {_allowed} 中選一個。",
        "offsets": f"**{_tokens} 個詞元的序列裡，沒有相隔 {_farthest} 個位置的詞元。** 這個任務至少需要 {_farthest + 1} 個詞元：請把詞元數的滑桿往右拉，或換一個任務。",
        "seed": f"**隨機種子必須是 0 到 {training.SEED_BOX_MAX} 的整數。** 請在隨機種子欄位輸入一個；預設是 123。",
    }
    _fallback = "**這組設定無法訓練。** 請把控制項調回它本身提供的值。"
    mo.callout(mo.md(_messages.get(watch_error.argument, _fallback)), kind="warn") if watch_error else None
    return (watch_run,)


@app.cell
def watch_step_control(mo, training, training_steps):
    training_step = mo.ui.slider(0, training_steps.value, step=training_steps.value // training.SNAPSHOTS, value=0, label="訓練步數", show_value=True, full_width=True)
    return (training_step,)


@app.cell
def watch_plots(HEAD, WEIGHT_LABELS, attention_heatmaps, charts, mo, training_step, watch_run):
    watch_snapshot = watch_run.at(training_step.value) if watch_run else None  # 評估模式，訓練了這麼多步之後
    _names = {"taken": "由{heads}認領", "split": "分散在{heads}", "blended": "混在{heads}裡", "unlearned": "尚未學會", "hidden": "被因果遮罩擋住"}
    _rows = []
    for _v in watch_run.verdicts(training_step.value) if watch_run else []:
        _target = "前面相同的詞元" if _v.offset == 0 else (f"往前 {_v.offset} 個" if _v.offset > 0 else f"往後 {-_v.offset} 個")
        _heads = "和".join(f"{HEAD.lower()} {h}" for h in (_v.heads or (_v.head,)))
        _verdict = _names[_v.kind].format(heads=_heads if _v.kind != "taken" else f"{HEAD.lower()} {_v.head}")
        _rows.append(f"| {_target} | {_v.accuracy:.0%} | {HEAD} {_v.head}: {_v.share:.0%} | {_verdict} |")
    _table = mo.md("\n".join(["| 詞元 | 答對 | 權重最多 | 判定 |", "| :-- | --: | --: | :-- |", *_rows])) if watch_run else None
    _chart = charts.loss_chart(
        watch_run.losses,
        snapshot_steps=[s.step for s in watch_run.snapshots],
        snapshot_losses=[s.loss for s in watch_run.snapshots],
        chance=watch_run.chance,
        step=training_step.value,
        title="損失",
        width=470,
        height=230,
        xlabel="訓練步數",
        ylabel="損失",
        train_label="訓練批次（dropout 開啟）",
        eval_label="觀測序列（dropout 關閉）",
        chance_label="隨機猜測",
        marker_label=f"第 {watch_snapshot.step} 步：損失 {watch_snapshot.loss:.2f}",
    ) if watch_run else None
    mo.vstack(
        [
            training_step,
            mo.hstack(
                [
                    attention_heatmaps(
                        watch_snapshot.weights,  # (heads, T, T)：每個頭在一條觀測序列上的權重
                        watch_run.labels,
                        titles=[f"{HEAD} {h + 1}" for h in range(watch_snapshot.weights.shape[0])],
                        masked=watch_run.masked,
                        max_width=520,
                        max_height=370,
                        **WEIGHT_LABELS,
                    ),
                    mo.vstack([_chart, _table], gap=0.5),
                ],
                widths=[1, 1],
                align="start",
                gap=1,
            ),
        ]
    ) if watch_run else None
    return (watch_snapshot,)


@app.cell
def watch_predict_imports():
    from shared import predict

    return (predict,)


@app.cell(hide_code=True)
def watch_experiments_intro(mo):
    mo.md(r"""
    #### 四個實驗：先猜再看

    下面每個實驗只改一件事，並比較兩次以隨機種子 123 訓練的結果（老師可以在上課前先把它們訓練好）。先選出你預期的結果；選好之後，訓練結果和你猜得對不對才會出現。
    """)
    return


@app.cell
def watch_outcomes():
    # 每個實驗可能出現的結果：結果的鍵（由訓練結果算出）-> 讀者選的那段文字
    LONGER_OUTCOMES = {
        "stuck": "損失停在 1 附近：一個頭沒辦法同時帶著兩個詞元。",
        "blend": "損失繼續下降：這個頭一直把兩個鍵混在一起，讀出層則學會把兩個詞元分辨出來。",
        "take": "這個頭把全部權重移到其中一個鍵上，另一個偏移量就放棄了。",
    }
    CAUSAL_OUTCOMES = {
        "copy": "損失降到接近 0：每個頭現在都看得到下一個詞元，直接複製它。",
        "guess": "損失停在隨機猜測的水準：隨機的詞元無法預測。",
    }
    POSITIONS_OUTCOMES = {
        "same": "沒有變化：兩個頭仍然認領往前第 1 和第 3 個詞元。",
        "lost": "損失一直遠高於 0：頭分辨不出哪個鍵是往前第三個。",
    }
    CONTENT_OUTCOMES = {
        "content": "有一個頭學會去找前面相同的詞元，幾乎每個位置都答對。",
        "position": "沒有頭幫得上忙：頭是依位置找鍵的，所以模型的表現只跟一直回答最常見的答案差不多。",
    }
    return CAUSAL_OUTCOMES, CONTENT_OUTCOMES, LONGER_OUTCOMES, POSITIONS_OUTCOMES


@app.cell
def longer_guess_control(LONGER_OUTCOMES, mo, predict):
    longer_guess = mo.ui.radio(options=predict.options(LONGER_OUTCOMES), label="**1 · 訓練久一點。** 一個頭、偏移量 1 和 3，訓練 2,000 步而不是 400 步。會發生什麼事？")
    longer_guess
    return (longer_guess,)


@app.cell
def longer_reveal(LONGER_OUTCOMES, charts, longer_guess, mo, predict, training):
    _long = training.trained(training.LONGER, title="訓練 2,000 步") if longer_guess.value else None
    _two = training.trained(training.DEFAULT) if _long else None
    if _long:
        _at = {s: _long.at(s).loss for s in (400, 1200, 2000)}
        _v = _long.verdicts(2000)
        _truth = training.longer_outcome(_long)
        _one_at, _two_at = _long.first_step(0.2), _two.first_step(0.2)
        _reached = f"第 {_one_at:,} 步" if _one_at else "2,000 步內都沒有"
        _why = f"第 400 步的損失是 {_at[400]:.2f}，第 1,200 步是 {_at[1200]:.2f}，第 2,000 步是 {_at[2000]:.2f}。到了第 2,000 步，偏移量 1 答對 {_v[0].accuracy:.0%}，偏移量 3 答對 {_v[1].accuracy:.0%}，而這個頭仍然把 {_v[0].share:.0%} 的權重放在往前一個、{_v[1].share:.0%} 放在往前三個：沒有放棄任何一個鍵。損失降到 0.2：一個頭是在{_reached}，兩個頭則在第 {_two_at} 步，那時每個頭各自認領一個偏移量。"
        _closing = {
            "blend": "一個頭靠著混合慢慢學會；頭多一點就學得快，每個頭乾淨地只看一個鍵。",
            "take": "這個頭不再混合：它認領了一個偏移量，另一個偏移量只能靠剩下的權重。",
            "stuck": "2,000 步裡，混合並沒有進步多少：在這裡，一個頭不夠應付兩個鍵。",
        }
        _why = f"{_why} {_closing[_truth]}"
        _said = predict.reveal(longer_guess.value, _truth, outcomes=LONGER_OUTCOMES, right="答對了。", wrong="不太對。", why=_why)
    mo.vstack(
        [
            mo.callout(mo.md(_said), kind=predict.kind(longer_guess.value, _truth)),
            charts.loss_chart(_long.losses, snapshot_steps=[s.step for s in _long.snapshots], snapshot_losses=[s.loss for s in _long.snapshots], chance=_long.chance, step=2000, title="一個頭，2,000 步", width=560, height=220, xlabel="訓練步數", ylabel="損失", train_label="訓練批次", eval_label="觀測序列", chance_label="隨機猜測"),
        ]
    ) if _long else None
    return


@app.cell
def causal_guess_control(CAUSAL_OUTCOMES, mo, predict):
    causal_guess = mo.ui.radio(
        options=predict.options(CAUSAL_OUTCOMES),
        label="**2 · 關掉因果遮罩。** 任務是下一個詞元。把模組的遮罩緩衝區清空（`model.attention.mask.zero_()`），每個鍵就都不再被遮蔽。損失會怎麼變化？",
    )
    causal_guess
    return (causal_guess,)


@app.cell
def causal_reveal(CAUSAL_OUTCOMES, causal_guess, mo, predict, training):
    _off = training.trained(training.CAUSAL_OFF) if causal_guess.value else None
    _on = training.trained(training.NEXT_TOKEN) if _off else None
    if _off:
        _truth = training.causal_outcome(_off)
        _v = _off.verdicts(_off.steps)[0]
        _why = f"清空遮罩緩衝區後，損失最後是 {_off.snapshots[-1].loss:.3f}，答對 {_v.accuracy:.0%}：頭 {_v.head} 把 {_v.share:.0%} 的權重放在往後一個的鍵上，直接複製它。有遮罩時，同一個模型最後的損失是 {_on.snapshots[-1].loss:.2f}，緊貼著隨機猜測的 {_on.chance:.2f}，只答對 {_on.verdicts(_on.steps)[0].accuracy:.0%}。遮罩並不會阻止模型預測下一個詞元：它阻止的是模型直接抄答案，所以抄寫必須變成根據前面的詞元來預測。這裡的詞元是隨機的，前面沒有任何東西能預測下一個；在真正的文字裡，前面的字詞可以，而 GPT 正是在遮罩開著的情況下這樣訓練的。這個開關只要一行，因為遮罩是緩衝區：它是模組帶著的狀態（跟著模組一起儲存，也會被 `.to` 一起搬動），而不是類別裡的程式碼。"
        _said = predict.reveal(causal_guess.value, _truth, outcomes=CAUSAL_OUTCOMES, right="答對了。", wrong="不太對。", why=_why)
    mo.callout(mo.md(_said), kind=predict.kind(causal_guess.value, _truth)) if _off else None
    return


@app.cell
def positions_guess_control(POSITIONS_OUTCOMES, mo, predict):
    positions_guess = mo.ui.radio(
        options=predict.options(POSITIONS_OUTCOMES),
        label="**3 · 關掉位置嵌入。** 兩個頭、偏移量 1 和 3，但不加位置嵌入。會發生什麼事？",
    )
    positions_guess
    return (positions_guess,)


@app.cell
def positions_reveal(POSITIONS_OUTCOMES, mo, positions_guess, predict, training):
    _off = training.trained(training.NO_POSITIONS) if positions_guess.value else None
    _on = training.trained(training.DEFAULT) if _off else None
    if _off:
        _truth = training.positions_outcome(_off)
        _v = _off.verdicts(_off.steps)
        _why = f"沒有位置嵌入時，損失最後是 {_off.snapshots[-1].loss:.2f}（有位置嵌入時是 {_on.snapshots[-1].loss:.2f}；隨機猜測是 {_off.chance:.2f}）。偏移量 1 答對 {_v[0].accuracy:.0%}，偏移量 3 答對 {_v[1].accuracy:.0%}；任何一個頭放在往前一個的鍵上的權重最多僅有 {_v[0].share:.0%}，放在往前三個的鍵上最多 {_v[1].share:.0%}。這時鍵只帶著自己的詞元，而同一個詞元不論在哪個位置看起來都一樣，所以查詢沒辦法指名要往前第三個鍵。正是位置嵌入（第 2 章）讓頭能在序列中找到一個位置。"
        _said = predict.reveal(positions_guess.value, _truth, outcomes=POSITIONS_OUTCOMES, right="答對了。", wrong="不太對。", why=_why)
    mo.callout(mo.md(_said), kind=predict.kind(positions_guess.value, _truth)) if _off else None
    return


@app.cell
def content_guess_control(CONTENT_OUTCOMES, mo, predict):
    content_guess = mo.ui.radio(
        options=predict.options(CONTENT_OUTCOMES),
        label="**4 · 關於內容的問題。** 在每個位置回答：這個詞元之前在序列中出現過嗎？兩個頭、每個序列 8 個詞元、1,200 步。會發生什麼事？",
    )
    content_guess
    return (content_guess,)


@app.cell
def content_reveal(CONTENT_OUTCOMES, HEAD, WEIGHT_LABELS, attention_heatmaps, content_guess, mo, predict, training):
    _run = training.trained(training.CONTENT) if content_guess.value else None
    if _run:
        _v = _run.verdicts(_run.steps)[0]
        _truth = training.content_outcome(_run)
        _why = f"答對 {_v.accuracy:.1%}，而一直回答最常見的答案只能答對 {_run.majority:.0%}。前面有相同詞元的地方，頭 {_v.head} 把 {_v.share:.0%} 的權重放在它上面。這就是 3.4 節裡查詢依內容去配對鍵：B 的查詢和每個帶著 B 的鍵都得到高分，不論它在哪個位置。在面板裡找找對角線以外的亮格：那裡的鍵和查詢是同一個字母。"
        _said = predict.reveal(content_guess.value, _truth, outcomes=CONTENT_OUTCOMES, right="答對了。", wrong="不太對。", why=_why)
        _last = _run.snapshots[-1]
    mo.vstack(
        [
            mo.callout(mo.md(_said), kind=predict.kind(content_guess.value, _truth)),
            attention_heatmaps(_last.weights, _run.labels, titles=[f"{HEAD} {h + 1}" for h in range(_last.weights.shape[0])], masked=_run.masked, max_width=620, max_height=320, **WEIGHT_LABELS),
        ]
    ) if _run else None
    return


@app.cell(hide_code=True)
def watch_heads_note(mo):
    mo.md(r"""
    **訓練過的模型會長出的頭。** 用文字訓練的語言模型也會長出這樣的頭：*前一詞元頭*（previous-token head）關注往前一個的鍵（上面的偏移量 1），*重複詞元頭*（duplicate-token head）關注目前詞元在前面出現過的副本（內容任務）；這兩種頭都在 GPT-2 裡找到過（Elhage 等人，2021；Wang 等人，2022）。*歸納頭*（induction head）再多走一步：看到「A B ... A」之後，它預測 B，做法是找到前面的 A，再複製 A 後面的詞元。查詢只能配對鍵所帶的內容，而這裡的鍵只帶著自己的詞元和位置；要配對「A 後面的詞元」，鍵必須先帶著它前一個詞元，這要由前一層的前一詞元頭寫進去。所以歸納頭需要前後兩層注意力：第 4 章會把它們疊成 Transformer 區塊。
    """)
    return


@app.cell(hide_code=True)
def bonus_text(mo):
    mo.md(r"""
    ## 延伸 · 高效率實作並排比較

    同一個因果多頭注意力，有四種計算方式：包裝器（3.6.1）、權重切分（3.6.2）、改用 PyTorch 融合運算核心（fused kernel）`scaled_dot_product_attention` 的權重切分（`SDPAMultiHeadAttention`），以及 `torch.nn.MultiheadAttention`。包裝器沒有 `out_proj`，為了讓四者做同樣的工作，計時時會在它後面接上權重切分的 `out_proj`。

    哪一種最快，取決於機器、大小和 PyTorch 的版本，所以我們不替你下結論：按下按鈕後，圖表下方的句子會報告*你的*機器量到的結果。計時要花幾秒鐘。時間是中位數：PyTorch 找得到 GPU（NVIDIA 的 CUDA 或 Apple 的 MPS）時在本機的 GPU 上量測，否則在單一 CPU 執行緒上量測；圖表標題會寫出所用的裝置。專案儲存庫中的 `python -m benchmarks.attention_speed` 會測量更多種大小，在 GPU 上還會分別量出單次呼叫的時間與連續排隊呼叫的速率。
    """)
    return


@app.cell
def timing_control(mo):
    timing_button = mo.ui.run_button(label="測量四種實作的執行時間")
    timing_button
    return (timing_button,)


@app.cell
def timing_result(DEVICE_WORDS, IMPLEMENTATION_NAMES, charts, devices, mo, timing, timing_button):
    mo.stop(not timing_button.value, mo.md("按下按鈕，就會開始計時。"))
    _device = devices.pick_device()  # 先找 CUDA，再找 Apple 的 MPS，都沒有就用 CPU
    _sizes = {
        "1 × 16 個詞元，寬度 12，2 個頭": timing.compare(1, 16, 12, 2, device=_device),
        "2 × 256 個詞元，寬度 768，12 個頭": timing.compare(2, 256, 768, 12, rounds=5, device=_device),
    }
    _names = {**IMPLEMENTATION_NAMES, "wrapper": IMPLEMENTATION_NAMES["wrapper"] + " + out_proj"}
    _title = f"前向傳遞的時間中位數（{devices.describe(_device, DEVICE_WORDS)}）"
    _lines = []
    for _size, _medians in _sizes.items():
        _s = timing.standing(_medians)  # 從這些中位數算出最快、最慢的實作與時間比
        _lines.append(
            f"* **{_size}：** 最快的是 {_names[_s.fastest]}（{_medians[_s.fastest]:.2f} ms），最慢的是 {_names[_s.slowest]}（{_medians[_s.slowest]:.2f} ms）。權重切分花的時間是包裝器的 {_s.ratios['split/wrapper']:.2f} 倍，SDPA 則是權重切分的 {_s.ratios['sdpa/split']:.2f} 倍。"
        )
    timing_figure = charts.timing_chart(_sizes, names=_names, title=_title, xlabel="毫秒")
    mo.vstack(
        [
            timing_figure,
            mo.md("\n".join(_lines)),
            mo.md("*這是在可能正忙著的機器上跑幾輪得到的中位數：再按一次，就能看出它們會變動多少。*"),
        ]
    )
    return (timing_figure,)


@app.cell(hide_code=True)
def summary(mo):
    mo.md(r"""
    ## 重點整理

    * 注意力把每個輸入詞元轉成一個**上下文向量**：對整個序列的加權總和，權重來自對相似度分數做 softmax。
    * 簡單的自注意力直接拿原始嵌入向量兩兩計算相似度分數；可訓練的自注意力則拿**查詢**和**鍵**比對，再混合**值**，而且分數要乘上 $1/\sqrt{d_k}$，讓 softmax 保持柔和。
    * **因果遮罩**讓詞元無法關注後面的詞元；由左往右書寫的語言模型必須如此。對權重套用 **dropout**，則能在訓練時發揮正則化（regularization）效果。
    * **多頭注意力**平行執行好幾個頭。把一個投影切分成多個頭，算出的數字和堆疊各自獨立的頭相同，只是每個投影做一次矩陣乘法，而不是每個頭各做一次；PyTorch 的融合運算核心 `scaled_dot_product_attention` 則用一個運算核心完成同樣的計算。哪一種最快，取決於機器和大小：上面的延伸計時會在你的機器上量給你看。
    * 下一步，第 4 章會把 `MultiHeadAttention` 放進 Transformer 區塊，並打造出 GPT。
    """)
    return


@app.cell(hide_code=True)
def beyond_intro(mo):
    mo.md(r"""
    ## 第 3 章之後 · 今日大型語言模型裡的注意力

    每個大型語言模型都會拿本章的注意力做三件事，每一件都只比上面的程式碼多走一小步：

    * **因果性實驗室。** 因果遮罩可能壞掉，卻不出現任何錯誤訊息。改掉一個詞元，看看哪些輸出跟著動。
    * **KV 快取（KV cache）。** 一次寫一個詞元的模型，可以把已讀詞元的鍵與值留下來，因為遮罩保證它們永遠不變。
    * **分組查詢注意力（grouped-query attention, GQA）。** 好幾個查詢頭共用一個鍵／值頭，快取所需的記憶體也隨之縮小。
    """)
    return


@app.cell(hide_code=True)
def beyond_modules():
    from shared import causality, gqa, kv_cache, kv_memory

    return causality, gqa, kv_cache, kv_memory


@app.cell(hide_code=True)
def causality_intro(mo):
    mo.md(r"""
    ### 因果性實驗室

    因果層在位置 $t$ 的輸出只由詞元 $1, \dots, t$ 算出。這給了一個任何人都能對任何注意力程式碼做的測試，連讀都不必讀：先餵它一個批次，再餵同一個批次但改掉一個詞元，然後逐個位置比較輸出。被改詞元之前的輸出必須完全不動；被改的位置和它之後的位置則可以動。

    實驗室對這本筆記本裡的每一種實作都跑這個測試，權重彼此共用：本章的 `CausalAttention`、包裝器（3.6.1）、`MultiHeadAttention`（3.6.2）、同一組權重放在 PyTorch 的融合核心 `scaled_dot_product_attention`（SDPA）上（透過 `SDPAMultiHeadAttention`，以及直接以 `is_causal=True` 呼叫）、以兩種慣例之一給 SDPA 明確的布林遮罩，還有帶著本章遮罩的 `torch.nn.MultiheadAttention`。這兩種慣例正好相反。在本章的遮罩裡，以及 `torch.nn.MultiheadAttention` 的 `attn_mask` 裡，`True` 標示要**隱藏**的分數；在 SDPA 的 `attn_mask` 裡，`True` 標示要**保留**的分數。
    """)
    return


@app.cell
def causality_controls(mo):
    causality_token = mo.ui.slider(2, 6, value=4, label="改掉的詞元", show_value=True)
    causality_guess = mo.ui.radio(
        options={
            "被改詞元之前什麼都不動：遮罩就是遮罩": "causal",
            "被改詞元之前的輸出會動：未來洩漏進來": "leaks",
            "PyTorch 拒絕這個遮罩並報錯": "error",
        },
        label="**先預測。** 本章的遮罩 `torch.triu(torch.ones(T, T), diagonal=1).bool()` 被當成 `attn_mask` 傳給 SDPA。會發生什麼事？",
    )
    mo.vstack([causality_guess, causality_token])
    return causality_guess, causality_token


@app.cell
def causality_lab(LIST_PATTERN, causality, causality_guess, causality_token, mo, printout):
    LAB_NAMES = {
        "causal": "CausalAttention（3.5）",
        "wrapper": "MultiHeadAttentionWrapper（3.6.1）",
        "split": "MultiHeadAttention（3.6.2）",
        "sdpa_class": "SDPAMultiHeadAttention（融合核心）",
        "sdpa_is_causal": "SDPA，is_causal=True",
        "sdpa_mask_wrong": "SDPA，attn_mask=mask（本章的遮罩）",
        "sdpa_mask_right": "SDPA，attn_mask=~mask（反轉後）",
        "torch": "nn.MultiheadAttention，attn_mask=mask",
    }
    LAB_WORDS = {"implementation": "實作", "position": "每個位置的輸出移動了多少", "verdict": "判定", "causal": "因果", "leaks": "洩漏未來"}
    _changed = causality_token.value
    _guess = causality_guess.value
    causality_reports = None
    if _guess is not None:  # 做出猜測之後，實驗室才執行
        try:
            causality_reports = causality.lab(changed=_changed - 1)  # 程式碼裡的位置從 0 起算
        except (TypeError, ValueError):
            causality_reports = None
    if _guess is None:
        _message = "*先在上面選一個答案，實驗室就會執行。*"
    elif causality_reports is None:
        _message = f"**範例裡沒有詞元 {_changed}。** 請選 2 到 6 之間的詞元。"
    else:
        _wrong, _right = causality_reports["sdpa_mask_wrong"], causality_reports["sdpa_mask_right"]
        _correct = (_guess == "causal") if _wrong.causal else (_guess == "leaks")
        _leaked = printout.join_values((t + 1 for t in _wrong.leaks), LIST_PATTERN)
        _fixed = max(_right.largest_leak, causality_reports["sdpa_is_causal"].largest_leak)
        _opening = "**答對了。**" if _correct else "**不是這樣。**"
        if _wrong.causal:
            _message = f"{_opening} 改掉詞元 {_changed} 之後，不論遮罩為何，它之前的輸出都沒有動。"
        else:
            _message = (
                f"{_opening} PyTorch 一聲不吭地接受了這個遮罩，而詞元 {_changed} 一改，詞元 {_leaked} 的輸出就跟著動了（最多 {_wrong.largest_leak:.3f}）：它們讀到了未來。SDPA 保留遮罩為 `True` 之處的分數，而本章的遮罩在對角線以上為 `True`，所以每個詞元注意的是它之後的詞元，而不是之前的。修正只需一個字元：`attn_mask=~mask`；或者不給遮罩，改用 `is_causal=True`。在這兩列裡，詞元 {_changed} 之前什麼都沒動（最大變化 {_fixed:.1g}）。"
            )
    mo.vstack([mo.md(_message), causality.movement_table(causality_reports, LAB_NAMES, LAB_WORDS) if causality_reports and _guess else mo.md("")])
    return LAB_WORDS, causality_reports


@app.cell(hide_code=True)
def causality_yours_text(mo):
    mo.md(r"""
    **你自己的注意力。** 在 `marimo edit` 裡，下面這個儲存格是你的：修改 `my_attention`（拿掉遮罩、把它反轉、把 `masked_fill` 換成在 softmax 之前乘以零），檢查會立刻在它上面執行。它接收形狀為 (2, 6, 3) 的批次，每個詞元必須回傳一列輸出。
    """)
    return


@app.cell
def causality_yours(LAB_WORDS, LIST_PATTERN, causality, mo, printout, torch):
    def my_attention(x):  # x：(b, T, d_in)
        scores = x @ x.transpose(1, 2)  # (b, T, T)
        future = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)  # (b, T, T)：對角線以上為 True
        scores = scores.masked_fill(future, -torch.inf)
        weights = torch.softmax(scores / x.shape[-1] ** 0.5, dim=-1)  # (b, T, T)
        return weights @ x  # (b, T, d_in)

    try:
        your_report = causality.check(my_attention, d_in=3, changed=3)
    except Exception as _error:  # 讀者自己的程式碼可能丟出任何錯誤
        your_report = None
        _message = f"**`my_attention` 發生錯誤：** {type(_error).__name__}：{_error}"
    else:
        _leaked = printout.join_values((t + 1 for t in your_report.leaks), LIST_PATTERN)
        _message = (
            "**是因果的：** 改掉詞元 4，它之前什麼都沒動。" if your_report.causal
            else f"**不是因果的：** 改掉詞元 4，詞元 {_leaked} 的輸出跟著動了。"
        )
    mo.vstack([mo.md(_message), causality.movement_table({"yours": your_report}, {"yours": "my_attention"}, LAB_WORDS) if your_report else mo.md("")])
    return


@app.cell(hide_code=True)
def kv_intro(mo):
    mo.md(r"""
    ### KV 快取

    模型一次寫一個詞元：它在提示詞上執行，挑出下一個詞元，接在後面，再執行一次。天真的做法是每一步都把整個序列再送過每一層。因果遮罩讓其中大部分的工作都是重複的。一個詞元的鍵與值只是那個詞元自己的投影，而較早的詞元不可以看較晚的詞元，所以已讀詞元的鍵與值在每一步算出來都一樣。模型可以把它們留著，每一步只計算新詞元的查詢、鍵與值。這個儲存就是 **KV 快取（KV cache）**。

    `KVCacheMultiHeadAttention` 就是本章的 `MultiHeadAttention` 加上兩個張量 `cache_k` 與 `cache_v`，形狀為 (batch, heads, tokens so far, head_dim)，即批次、頭數、目前的詞元數、每頭維度。下面它拿到本章的權重（書中的隨機種子 123、`d_out=4`、兩個頭），先以 "Your journey starts with one step" 的第一個詞元做預填（prefill），接著每一步再加一個詞元。單靠注意力選不出詞元，所以這裡的下一個詞元就是句子的下一個字；真正的模型會從自己的輸出中選出它。
    """)
    return


@app.cell(hide_code=True)
def kv_code(LOCALE, attention, mo, printout):
    mo.accordion({"帶快取的模組（shared/attention.py）": mo.md(printout.source_markdown(attention.KVCacheMultiHeadAttention, LOCALE))})
    return


@app.cell
def kv_controls(mo):
    kv_guess = mo.ui.radio(
        options={
            "完全保持原樣": "same",
            "稍微改變：新詞元帶來了新的上下文": "change",
        },
        label="**先預測。** 新詞元來了。已經在快取裡的鍵會怎樣？",
    )
    kv_step = mo.ui.slider(0, 5, value=5, label="顯示快取，直到第幾步", show_value=True)
    mo.vstack([kv_guess, kv_step])
    return kv_guess, kv_step


@app.cell
def kv_steps(TOKENS, kv_cache, kv_guess, kv_step, mo):
    kv_replay = kv_cache.replay(prefill=1, steps=5)  # 本章 MultiHeadAttention 的權重，6 個詞元
    _guess, _upto = kv_guess.value, kv_step.value
    _moved, _difference = kv_replay.old_rows_moved, kv_replay.max_difference
    if _guess is None:
        _message = "*先在上面選一個答案，就能看快取如何長大。*"
    elif not 0 <= _upto < len(kv_replay.steps):
        _message = f"**沒有第 {_upto} 步。** 請選 0 到 {len(kv_replay.steps) - 1} 之間的步數。"
    else:
        _opening = "**答對了。**" if (_guess == "same") == (_moved == 0) else "**不是這樣。**"
        _how = "完全沒動" if _moved == 0 else "它們變了"
        _message = (
            f"{_opening} 在預填與五個步驟的每一步之後，該步之前已快取的列最多移動了 {_moved:.1g}：{_how}。詞元的鍵只取決於那個詞元，所以新的一列（標亮處）被接在後面，其他什麼都不寫。六個步驟的輸出依序排起來，與本章模組一次處理全部六個詞元的結果最多相差 {_difference:.1g}：除了浮點數捨入，快取給出同樣的答案。"
        )
    _show = _guess is not None and 0 <= _upto < len(kv_replay.steps)
    mo.vstack([
        mo.md(_message),
        kv_cache.cache_figure(kv_replay, _upto, TOKENS, {"prefill": "預填", "step": "步驟", "head": "頭"}) if _show else mo.md(""),
    ])
    return


@app.cell(hide_code=True)
def kv_work_text(mo):
    mo.md(r"""
    **每一步的工作量。** 在序列長到 $T$ 個詞元的那一步，沒有快取的層要投影全部 $T$ 個詞元（$3 T d_\text{in} d_\text{out}$ 次乘加運算），為 $T \times T$ 對計算分數並混合（$2 T^2 d_\text{out}$），再套用 `out_proj`（$T d_\text{out}^2$）。有了快取，只有新詞元要走一遍：$3 d_\text{in} d_\text{out} + 2 T d_\text{out} + d_\text{out}^2$。下表以 GPT-2 的寬度（768）計算一層的兩種數量；測試套件會拿這個計數與 PyTorch 自己的計數（`torch.utils.flop_counter`）比對。按鈕則在這臺機器上為完整的生成計時。
    """)
    return


@app.cell
def kv_work(kv_cache, mo):
    _rows = []
    for _tokens in (16, 256, 1024, 4096):
        _full = kv_cache.multiply_adds(_tokens, 768, 768, cached=False)
        _cached = kv_cache.multiply_adds(_tokens, 768, 768, cached=True)
        _rows.append(f"| {_tokens} | {_full / 1e6:,.1f} M | {_cached / 1e6:,.2f} M | {_full / _cached:,.0f} 倍 |")
    mo.md("\n".join(["| 目前的詞元數 | 沒有快取 | 有快取 | 工作量少了 |", "| --: | --: | --: | --: |", *_rows]))
    return


@app.cell
def kv_timing_control(mo):
    kv_timing_button = mo.ui.run_button(label="為有快取與沒有快取的生成計時")
    kv_timing_button
    return (kv_timing_button,)


@app.cell
def kv_timing(devices, kv_cache, kv_timing_button, mo):
    mo.stop(not kv_timing_button.value, mo.md("*按下按鈕就開始計時（需要幾秒鐘）。*"))
    _device = devices.pick_device()  # 先找 CUDA，再找 Apple 的 MPS，都沒有就用 CPU
    _tokens = 128
    _speeds = kv_cache.tokens_per_second(768, 12, _tokens, device=_device)  # 一層，寬度 768，12 個頭，一個詞元的提示詞
    _ratio = _speeds["cached"] / _speeds["recompute"]
    _how = "的速度" if _ratio >= 1 else "的速度"
    mo.md(
        f"在 {devices.describe(_device)} 上，一個寬度 768、12 個頭的注意力層，在一個詞元的提示詞之後生成 {_tokens - 1} 個詞元：**有快取時每秒 {_speeds['cached']:,.0f} 個詞元**，**沒有快取時每秒 {_speeds['recompute']:,.0f} 個**，是後者 {_ratio:.1f} 倍{_how}。`python -m benchmarks.kv_cache_speed` 會量測更多長度。"
    )
    return


@app.cell(hide_code=True)
def gqa_intro(mo):
    mo.md(r"""
    ### 分組查詢注意力

    快取為每一層、每個詞元、每個頭各存一個鍵與一個值。分組查詢注意力存得比較少：$h$ 個查詢頭分成 $g$ 組，同一組的所有頭讀取同一個鍵頭與值頭。`W_key` 與 `W_value` 從 $d_\text{out}$ 行縮成 $g \cdot d_\text{head}$ 行，而在計算分數之前，每個鍵／值頭會為該組的 $h/g$ 個查詢頭重複一次。$g = h$ 時它就是本章的多頭注意力；$g = 1$ 時則是多查詢注意力（multi-query attention, MQA）。下面以本章的批次（2 × 6 × 3）與 `d_out=12` 逐步追蹤 3.6.2 的多頭切分，這次加上分組。
    """)
    return


@app.cell
def gqa_heads_control(headsplit, mo):
    gqa_heads = mo.ui.dropdown(options={str(h): h for h in headsplit.HEAD_COUNTS}, value="12", label="查詢頭數")
    gqa_heads
    return (gqa_heads,)


@app.cell
def gqa_groups_control(gqa, gqa_heads, mo):
    gqa_groups = mo.ui.dropdown(options={str(g): g for g in gqa.group_choices(gqa_heads.value)}, value=str(gqa.default_groups(gqa_heads.value)), label="鍵／值分組數")
    gqa_groups
    return (gqa_groups,)


@app.cell
def gqa_trace(gqa, gqa_groups, gqa_heads, headsplit, mo):
    _heads, _groups = gqa_heads.value, gqa_groups.value
    try:
        _traced = gqa.trace(num_heads=_heads, num_kv_groups=_groups, d_out=12)
    except (TypeError, ValueError):
        _traced = None
    if _traced is None:
        _message = f"**{_groups} 組無法平分 {_heads} 個頭。** 分組數必須整除頭數。"
        _steps = ""
    else:
        _mha = gqa.trace(num_heads=_heads, num_kv_groups=_heads, d_out=12).output  # 分組數 = 頭數
        _equal = float((_mha - headsplit.split_heads(_heads, 12).reference).abs().max())  # 與本章的 MultiHeadAttention 比較
        _sharing = "; ".join(
            f"查詢頭 {_members[0]}–{_members[-1]} 讀取鍵／值頭 {_k}" if len(_members) > 1 else f"查詢頭 {_members[0]} 讀取鍵／值頭 {_k}"
            for _k, _members in enumerate(_traced.groups)
        )
        _steps = "\n".join(["| 步驟（批次 b = 2，詞元 T = 6） | 形狀 |", "| :-- | :-- |", *(f"| `{_code}` | {_shape} |" for _code, _shape in _traced.steps)])
        _message = (
                f"{_heads} 個頭分成 {_groups} 組時，{_sharing}。每個詞元在每一層的快取裡留下 {_traced.cached_per_token} 個數（{_groups} 個鍵／值頭各有長度 {_traced.head_dim} 的一個鍵與一個值），多頭注意力則留下 {2 * 12} 個：少了 {2 * 12 / _traced.cached_per_token:g} 倍。逐步追蹤的結果與模組自己的輸出相同（最大差異 {_traced.max_difference:.1g}）；分組數等於頭數時，模組給出與同一隨機種子的本章 `MultiHeadAttention` 相同的輸出（最大差異 {_equal:.1g}）。"
        )
    _words = {"query_heads": "查詢頭", "kv_heads": "鍵／值頭", "q": "查", "kv": "鍵值"}
    mo.vstack([gqa.sharing_figure(_traced, _words) if _traced else mo.md(""), mo.md(_message), mo.md(_steps)])
    return


@app.cell(hide_code=True)
def memory_intro(mo):
    mo.md(r"""
    **需要多少記憶體。** 每一層都為上下文中的每個詞元、每個鍵／值頭各存一個鍵與一個值：

    $$\text{位元組} = 2 \times \text{批次} \times \text{層數} \times \text{上下文} \times n_\text{kv} \times d_\text{head} \times \text{每個數的位元組}$$

    其中 $d_\text{head} = \text{寬度} / h$；多頭注意力的 $n_\text{kv} = h$，分組查詢注意力為 $g$，多查詢注意力為 1。控制項的起始值是書中延伸教材所用的模型大小（32 層、寬度 4096、32 個頭、上下文 32,768 個詞元、數值為 bfloat16）。
    """)
    return


@app.cell
def memory_controls(kv_memory, mo):
    memory_guess = mo.ui.radio(
        options={
            "大約小 4 倍": "4",
            "一樣大：32 個查詢頭仍然都需要鍵": "1",
            "大約小 32 倍": "32",
        },
        label="**先預測。** 這個模型的 32 個頭改為共用 8 個鍵／值頭，而不是每頭一個。它的 KV 快取會變成……",
    )
    memory_layers = mo.ui.number(start=1, stop=200, value=32, label="層數")
    memory_width = mo.ui.dropdown(options={str(w): w for w in (768, 1024, 2048, 4096, 5120, 8192)}, value="4096", label="寬度")
    memory_heads = mo.ui.dropdown(options={str(h): h for h in (8, 16, 32, 64)}, value="32", label="查詢頭數 h")
    memory_groups = mo.ui.dropdown(options={str(g): g for g in (1, 2, 4, 8, 16, 32, 64)}, value="8", label="鍵／值分組數 g")
    memory_context = mo.ui.dropdown(options={str(c): c for c in (1024, 4096, 8192, 32768, 131072)}, value="32768", label="上下文（詞元數）")
    memory_dtype = mo.ui.dropdown(options={_name: _name for _name in kv_memory.DTYPE_BYTES}, value="bfloat16", label="數值型別")
    mo.vstack([memory_guess, mo.hstack([memory_layers, memory_width, memory_heads, memory_groups], justify="start"), mo.hstack([memory_context, memory_dtype], justify="start")])
    return memory_context, memory_dtype, memory_groups, memory_guess, memory_heads, memory_layers, memory_width


@app.cell
def memory_result(kv_memory, memory_context, memory_dtype, memory_groups, memory_guess, memory_heads, memory_layers, memory_width, mo):
    _layers, _context, _width, _heads, _groups, _dtype = (
        memory_layers.value, memory_context.value, memory_width.value, memory_heads.value, memory_groups.value, memory_dtype.value
    )
    try:
        _table = kv_memory.kv_cache_table(layers=_layers, context=_context, width=_width, heads=_heads, groups=_groups, dtype=_dtype)
    except (TypeError, ValueError):
        _table = None
    _formula = _rows = _verdict = ""
    if _table is None:
        _message = (f"**這些設定互不相容。** 頭數（{_heads}）必須整除寬度，分組數（{_groups}）必須整除頭數，而且每個大小都至少為 1。")
    else:
        _message = ""
        _book = kv_memory.kv_cache_table(layers=32, context=32768, width=4096, heads=32, groups=8, dtype="bfloat16")
        _shrink = _book["mha"] / _book["gqa"]
        _guess = memory_guess.value
        _head_dim = _width // _heads
        _per = kv_memory.DTYPE_BYTES[_dtype]
        _formula = (
            f"$$2 \\times 1 \\times {_layers} \\times {_context} \\times n_\\text{{kv}} \\times {_head_dim} \\times {_per} = n_\\text{{kv}} \\times {_table['mqa']}\\ \\text{{位元組}}$$"
        )
        _rows = "\n".join([
            f"| 多頭（$n_\\text{{kv}} = {_heads}$） | {_table['mha'] / 1e9:,.2f} GB |",
            f"| 分組查詢（$n_\\text{{kv}} = {_groups}$） | {_table['gqa'] / 1e9:,.2f} GB |",
            f"| 多查詢（$n_\\text{{kv}} = 1$） | {_table['mqa'] / 1e9:,.3f} GB |",
        ])
        _rows = "| 注意力 | 一個序列的 KV 快取 |\n| :-- | --: |\n" + _rows
        _opening = "**答對了。**" if _guess == str(round(_shrink)) else "**不是這樣。**"
        _verdict = "" if _guess is None else (
            f"{_opening} 在書中的設定下，快取從 {_book['mha'] / 1e9:.1f} GB 降到 {_book['gqa'] / 1e9:.1f} GB，小了 {_shrink:g} 倍：查詢頭仍各有自己的查詢，但快取只存鍵／值頭，而它們只有 8 個，不是 32 個。"
        )
    mo.vstack([mo.md(_message), mo.md(_formula), mo.md(_rows), mo.md(_verdict)])
    return


@app.cell(hide_code=True)
def memory_check_text(mo):
    mo.md(r"""
    **拿真正的張量檢查公式。** 四個小型層（寬度 256、8 個頭）在這臺機器的裝置上讀入 256 個詞元：多頭注意力用 `KVCacheMultiHeadAttention`，分成 2 組與 1 組時則用分組查詢層的鍵與值投影。把它們快取的鍵與值所佔的位元組加總，在 NVIDIA GPU 上還會讀取已配置記憶體的增加量。
    """)
    return


@app.cell
def memory_check_control(mo):
    memory_button = mo.ui.run_button(label="在這臺機器上量測")
    memory_button
    return (memory_button,)


@app.cell
def memory_check(devices, kv_memory, memory_button, mo):
    mo.stop(not memory_button.value, mo.md("*按下按鈕就開始量測（不到一秒）。*"))
    _device = devices.pick_device()  # 先找 CUDA，再找 Apple 的 MPS，都沒有就用 CPU
    _rows = []
    for _name, _kv_heads in (("多頭", 8), ("分組查詢", 2), ("多查詢", 1)):
        _measured = kv_memory.measure(layers=4, context=256, width=256, heads=8, kv_heads=_kv_heads, device=_device)
        _allocated = "—" if _measured.allocated is None else f"{_measured.allocated:,}"
        _same = "是" if _measured.formula == _measured.tensors else "否"
        _rows.append(f"| {_name} | {_measured.formula:,} | {_measured.tensors:,} | {_allocated} | {_same} |")
    mo.md("\n".join([
        f"在 {devices.describe(_device)} 上：",
        "",
        "| 注意力 | 公式（位元組） | 快取張量（位元組） | GPU 上配置的記憶體（位元組） | 公式 = 張量 |",
        "| :-- | --: | --: | --: | :-- |",
        *_rows,
    ]))
    return


if __name__ == "__main__":
    app.run()
