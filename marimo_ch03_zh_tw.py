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
# content-sha256: 84d0226ebf51129565c70ec3ff3eac63f4b0f39326f51e046907eb6b30a58f97

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="第 3 章 · 實作注意力機制")


@app.cell
def setup():
    import marimo as mo
    import torch

    from shared import attention, charts, devices, diagrams, example, exercises, explorer, printout, session, timing
    from shared.heatmap import attention_heatmaps
    from shared.seeding import seeded

    cjk_font = session.prepare()  # torch 只用一個執行緒；若系統有 CJK 字型，就讓 matplotlib 使用
    return (
        attention,
        attention_heatmaps,
        charts,
        cjk_font,
        devices,
        diagrams,
        example,
        exercises,
        explorer,
        mo,
        printout,
        seeded,
        session,
        timing,
        torch,
    )


@app.cell
def words():
    # 圖表上的詞元標籤：書中例句的中文版，延伸到十六個詞元。
    TOKENS = "你的 旅程 開始 於 一 步 而 每個 新 步伐 都 建立在 先前的 每 一步 之上".split()
    HEAD = "注意力頭"
    # 圖表裡的文字，以及練習的判定結果。
    WEIGHT_LABELS = {"colorbar_label": "權重", "row_axis_label": "查詢", "col_axis_label": "鍵", "masked_label": "已遮蔽：未來的詞元"}
    SCORE_LABELS = {**WEIGHT_LABELS, "colorbar_label": "分數"}
    STATUS_WORDS = {"todo": "尚未作答", "error": "發生錯誤", "wrong": "還不正確", "correct": "正確"}
    IMPLEMENTATION_NAMES = {"wrapper": "包裝器（3.6.1）", "split": "權重切分（3.6.2）", "sdpa": "SDPA", "torch": "torch.nn.MultiheadAttention"}
    return HEAD, IMPLEMENTATION_NAMES, SCORE_LABELS, STATUS_WORDS, TOKENS, WEIGHT_LABELS


@app.cell(hide_code=True)
def title(mo):
    mo.vstack(
        [
            mo.md(
                r"""
                *English version: [marimo_ch03.py](marimo_ch03.py)*

                # 第 3 章 · 實作注意力機制

                這本互動筆記本陪你讀 Sebastian Raschka《Build a Large Language Model (From Scratch)》的第 3 章。我們照著這一章的順序，一小步一小步地打造注意力機制（attention mechanism）。每一步都能動手試：拖曳滑桿，圖表就會用真正的程式碼算出的權重重新繪製。

                下方印出的數字使用書中的範例和書中的隨機種子（random seed），可以直接和書頁對照。
                """
            ),
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

    和書中一樣，我們取 $d_\text{in} = 3$、$d_\text{out} = 2$，以第二個詞元當查詢，並用隨機種子 123 產生 $[0, 1)$ 之間的亂數，填入三個矩陣。

    書中寫 `torch.manual_seed(123)` 的地方，本筆記本寫成 `with seeded(123):`。它為同一個亂數產生器設定種子（seed），而且在區塊結束前一直佔用它。老師把筆記本開給全班使用時，每位學生的儲存格都在同一個 Python 行程裡執行，共用這個產生器；若不佔用，別的學生的儲存格可能在我們的區塊執行到一半時抽取亂數，我們印出的數字就不再是書上的數字。
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
def scaling_note(mo):
    mo.md(r"""
    **為什麼要除以 $\sqrt{d_k}$？** 兩個 $d_k$ 維向量的點積，會隨著 $d_k$ 變大。分數太大時，softmax 的輸出會趨近 one-hot 向量，梯度（gradient）幾乎為零，訓練就停滯了。除以 $\sqrt{d_k}$（鍵的維度），可以讓分數留在 softmax 仍然「柔和」的範圍內。

    在下方試試看：權重以 $[0, 1)$ 均勻分佈初始化時，每個投影都是正的，分數隨 $d_k$
    快速變大；不做縮放的話，權重會全部集中到一個詞元上。改用 `nn.Linear` 的預設初始化（有正有負、絕對值很小的數值），效果就溫和得多。
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
def s3_4_2(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.4.2 實作精簡的自注意力 Python 類別

            把同樣的步驟一次套用到所有詞元，包成一個 PyTorch 模組。下面就是實際執行的程式碼（取自 `shared/attention.py`）。除了書中的行為，它還能回傳計算時用到的權重；這本筆記本的圖表，就是這樣拿到權重的。

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
def s3_5_2(mo):
    mo.md(r"""
    ### 3.5.2 用 dropout 遮蔽額外的注意力權重

    **Dropout** 在訓練時，隨機把比例為 $p$ 的注意力權重設為零，讓模型不能只依賴少數幾條特定的連結，有助於降低過度擬合（overfitting）的風險。為了讓總和的期望值不變，留下來的權重會乘上
    $1/(1-p)$。推論（inference）時要先呼叫 `model.eval()`，此時 dropout 完全不起作用。

    對全是 1 的矩陣取 $p = 0.5$，大約一半的元素會變成 0，其餘的變成 2：
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
    num_heads
    return (num_heads,)


@app.cell
def mha_dropout_control(mo):
    dropout_rate = mo.ui.slider(0.0, 0.9, step=0.05, value=0.0, label="Dropout 比率 p", show_value=True)
    dropout_rate
    return (dropout_rate,)


@app.cell
def mha_length_control(example, mo):
    sequence_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="序列長度", show_value=True)
    sequence_length
    return (sequence_length,)


@app.cell
def mha_query_control(TOKENS, mo):
    query_token = mo.ui.dropdown(
        options={f"{position + 1}. {token}": position for position, token in enumerate(TOKENS)},
        value=f"2. {TOKENS[1]}",
        label="查詢詞元",
    )
    query_token
    return (query_token,)


@app.cell
def mha_causal_control(mo):
    causal_mask = mo.ui.switch(value=True, label="因果遮罩")
    causal_mask
    return (causal_mask,)


@app.cell
def mha_scaled_control(mo):
    scale_by_sqrt_dk = mo.ui.switch(value=True, label="除以 √d_k")
    scale_by_sqrt_dk
    return (scale_by_sqrt_dk,)


@app.cell
def multihead_explorer(
    HEAD,
    TOKENS,
    WEIGHT_LABELS,
    attention_heatmaps,
    explorer,
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
    attention_heatmaps(
        mha_view.weights,  # (heads, T, T)：注意力頭數 × 詞元數 × 詞元數
        TOKENS[:seq_len],
        titles=[f"{HEAD} {h + 1}" for h in range(mha_view.weights.shape[0])],
        masked=mha_view.masked,
        highlight_row=query_token.value if query_token.value < seq_len else None,
        show_row_sums=dropout_rate.value > 0,
        **WEIGHT_LABELS,
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
