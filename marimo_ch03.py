# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "marimo>=0.23",
#     "torch>=2.2",
#     "matplotlib>=3.8",
#     "numpy>=1.26",
# ]
# ///

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Chapter 3 · Coding attention mechanisms", css_file="marimo_ch03.css")


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

    cjk_font = session.prepare()  # one torch thread; a CJK font for matplotlib if installed
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
    # Token labels for plots: the book's sentence, continued to sixteen tokens.
    TOKENS = "Your journey starts with one step and each new step builds on every step before it".split()
    HEAD = "Head"
    # Words inside the plots and the exercise verdicts.
    WEIGHT_LABELS = {"colorbar_label": "weight", "row_axis_label": "query", "col_axis_label": "key", "masked_label": "masked: a future token", "description": "attention weights"}
    SCORE_LABELS = {**WEIGHT_LABELS, "colorbar_label": "score", "description": "attention scores"}
    STATUS_WORDS = {"todo": "not answered", "error": "error", "wrong": "not yet", "correct": "correct"}
    IMPLEMENTATION_NAMES = {"wrapper": "wrapper (3.6.1)", "split": "weight split (3.6.2)", "sdpa": "SDPA", "torch": "torch.nn.MultiheadAttention"}
    return HEAD, IMPLEMENTATION_NAMES, SCORE_LABELS, STATUS_WORDS, TOKENS, WEIGHT_LABELS


@app.cell(hide_code=True)
def title(edition_link, mo):
    mo.vstack(
        [
            mo.md(
                r"""
                # Chapter 3 · Coding attention mechanisms

                A hands-on companion to chapter 3 of *Build a Large Language Model (From Scratch)* by
                Sebastian Raschka. We build attention the way the chapter does, one small step at a
                time, and every step is something you can poke: move a slider and the plots redraw
                with the weights the real code computed.

                The numbers printed below use the book's example and the book's random seeds, so
                you can check them against the page.
                """
            ),
            # The other language's notebook: edition_link points the link at what this page can open.
            edition_link("*中文版：[臺灣繁體中文](marimo_ch03_zh_tw.py)*"),
            mo.outline(label="Contents"),
        ]
    )
    return


@app.cell(hide_code=True)
def font_notice(TOKENS, cjk_font, mo, session):
    _needs_cjk = session.needs_cjk(" ".join(TOKENS))
    mo.callout(
        mo.md(
            "No font with Chinese glyphs was found, so Chinese text in the matplotlib figures would show as empty boxes. Install one (Debian/Ubuntu: `sudo apt-get install fonts-noto-cjk`) and restart the notebook. Everything else works as it is."
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
                ## 3.1 The problem with modelling long sequences

                Before transformers, translation models were usually a pair of recurrent neural
                networks (RNNs). The *encoder* reads the input one token at a time and updates a hidden
                state $h$; the *decoder* must then produce the whole output from the encoder's final
                hidden state alone. Everything the sentence says has to squeeze through that one vector,
                and for long inputs the early tokens fade from it.

                Attention removes the bottleneck: at every output step the decoder may look back at
                *all* encoder states and decide how much each one matters right now.
                """
            ),
            diagrams.encoder_decoder(
                ["Ich", "lerne", "heute", "Attention"],
                ["I", "learn", "attention", "today"],
                encoder_label="RNN encoder",
                decoder_label="RNN decoder",
                bottleneck_label="everything in one state",
                attention_label="With attention: each output step sees every input",
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
                ## 3.2 Capturing data dependencies with attention

                Bahdanau attention (2014) let an RNN decoder weigh the encoder states at each step.
                Three years later the transformer kept only the attention part. *Self*-attention goes
                one step further: the tokens of a single sequence attend to each other, so each token's
                new representation, its **context vector**, mixes in what the rest of the sequence says.

                This chapter builds self-attention in four stages. The GPT model of the later chapters
                uses the last one.
                """
            ),
            diagrams.chapter_path(
                [
                    "3.3 Simple\nself-attention",
                    "3.4 Self-attention with\ntrainable weights",
                    "3.5 Causal\nattention",
                    "3.6 Multi-head\nattention",
                ],
                caption="Each stage adds one idea to the one before it.",
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def s3_3(mo):
    mo.md(r"""
    ## 3.3 Attending to different parts of the input with self-attention

    ### 3.3.1 A simple self-attention mechanism without trainable weights

    Our input is the sentence *"Your journey starts with one step"*, six tokens, each already
    turned into a 3-dimensional embedding vector $x^{(1)}, \dots, x^{(6)}$ (real models use
    hundreds or thousands of dimensions; three fit in a plot). The goal for each token $i$ is a
    context vector $z^{(i)}$: a weighted sum of all the inputs,

    $$z^{(i)} = \sum_{j=1}^{T} \alpha_{ij}\, x^{(j)},$$

    where $T$ is the number of tokens and the **attention weights** $\alpha_{ij}$ say how much
    token $j$ matters to token $i$. We first compute everything for one *query* token.
    """)
    return


@app.cell
def book_embeddings(example):
    inputs = example.book_inputs()  # (6, 3): one row per token, the book's numbers
    inputs
    return (inputs,)


@app.cell
def embedding_figure(TOKENS, charts, inputs):
    charts.embedding_image(
        inputs,
        TOKENS[:6],
        title="The six input embeddings",
        axis_labels=("dim 1", "dim 2", "dim 3"),
    )
    return


@app.cell(hide_code=True)
def scores_intro(mo):
    mo.md(r"""
    The **attention score** $\omega_{ij}$ is the dot product of the query $x^{(i)}$ with
    each input $x^{(j)}$: large when the two vectors point the same way. The book uses the
    second token, *journey*, as its query; pick another one to see its numbers.
    """)
    return


@app.cell(hide_code=True)
def normalise_intro(mo):
    mo.md(r"""
    Scores can be any size. To turn them into weights that are positive and add up to 1 we
    normalise them with **softmax**, $\alpha_{ij} = e^{\omega_{ij}} / \sum_k e^{\omega_{ik}}$.
    The cell below does all three steps for the query you pick: the scores, softmax (first written
    out literally as `softmax_naive`, then `torch.softmax`), and the context vector, the inputs
    summed with those weights.
    """)
    return


@app.cell
def query_control(TOKENS, mo):
    query_position = mo.ui.dropdown(
        options={token: position for position, token in enumerate(TOKENS[:6])},
        value=TOKENS[1],
        label="Query token",
    )
    query_position
    return (query_position,)


@app.cell
def query_steps(attention, inputs, printout, query_position, torch):
    query_index = query_position.value
    query = inputs[query_index]  # (3,)
    attn_scores_query = torch.empty(inputs.shape[0])  # (6,)
    for _j, _x_j in enumerate(inputs):
        attn_scores_query[_j] = torch.dot(_x_j, query)  # one score per input token
    weights_naive = attention.softmax_naive(attn_scores_query)  # exp(x) / sum(exp(x))
    attn_weights_query = torch.softmax(attn_scores_query, dim=0)  # (6,), sums to 1
    context_vec_query = torch.zeros(query.shape)  # (3,)
    for _j, _x_j in enumerate(inputs):
        context_vec_query += attn_weights_query[_j] * _x_j  # weighted sum of the inputs
    printout.labelled(
        ("scores:", attn_scores_query),
        ("naive softmax:", weights_naive),
        ("its sum:", weights_naive.sum()),
        ("torch.softmax:", attn_weights_query),
        ("context vector:", context_vec_query),
    )
    return attn_scores_query, attn_weights_query, query_index


@app.cell(hide_code=True)
def softmax_warning(mo):
    mo.callout(
        mo.md(
            r"""
            The literal formula overflows for large scores: `exp(1000.)` is `inf`, and `inf / inf`
            is `nan`. `torch.softmax` first subtracts the largest score from all of them, which leaves
            the result unchanged and keeps every `exp` at most 1. From here on we use it.
            """
        ),
        kind="info",
    )
    return


@app.cell
def query_weights_plot(TOKENS, attention_heatmaps, attn_weights_query, query_index):
    attention_heatmaps(
        attn_weights_query.unsqueeze(0),  # (1, 6): one row, the query's weights
        [TOKENS[query_index]],
        TOKENS[:6],
        colorbar_label="weight",
        row_axis_label="query",
        col_axis_label="input token",
        description="attention weights",
        annotate=True,
    )
    return


@app.cell(hide_code=True)
def s3_3_2(mo):
    mo.md(r"""
    ### 3.3.2 Computing attention weights for all input tokens

    Doing this for every query at once is two matrix products. With the inputs as the rows of
    a $T \times d$ matrix $X$: the scores are $\Omega = X X^\top$ (row $i$ holds the scores of query $i$),
    the weights are the row-wise softmax $A$, and the context vectors are the rows of
    $Z = A X$.
    """)
    return


@app.cell
def all_tokens(inputs, printout, torch):
    attn_scores = inputs @ inputs.T  # (6, 6)
    attn_weights = torch.softmax(attn_scores, dim=-1)  # (6, 6), each row sums to 1
    all_context_vecs = attn_weights @ inputs  # (6, 3)
    printout.labelled(("row sums:", attn_weights.sum(dim=-1)), ("context vectors:", all_context_vecs))
    return


@app.cell(hide_code=True)
def simple_library(mo):
    mo.md(r"""
    The project's `shared/attention.py` holds this as `simple_self_attention`, which the plot
    below calls. The slider goes past the book's six tokens: the sentence continues with ten
    more tokens whose embeddings come from a fixed seed.
    """)
    return


@app.cell
def simple_length_control(example, mo):
    simple_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="Sequence length", show_value=True)
    simple_length
    return (simple_length,)


@app.cell
def simple_plot(SCORE_LABELS, TOKENS, WEIGHT_LABELS, attention_heatmaps, explorer, mo, simple_length):
    _view = explorer.explore_simple(simple_length.value)  # calls attention.simple_self_attention
    _scores, _weights = _view.scores, _view.weights
    _labels = TOKENS[: simple_length.value]
    mo.hstack(
        [
            attention_heatmaps(_scores, _labels, titles=["Scores  X Xᵀ"], vmin=float(_scores.min()), vmax=float(_scores.max()), max_width=470, **SCORE_LABELS),
            attention_heatmaps(_weights, _labels, titles=["Weights  softmax(X Xᵀ)"], max_width=470, **WEIGHT_LABELS),
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
                ## 3.4 Implementing self-attention with trainable weights

                Simple self-attention has nothing to learn: a token's weights depend only on how similar
                the raw embeddings are. The transformer's version, **scaled dot-product attention**,
                first projects each input into three roles with trainable matrices:

                * the **query** $q^{(i)} = x^{(i)} W_q$: what token $i$ is looking for,
                * the **key** $k^{(j)} = x^{(j)} W_k$: what token $j$ offers to be matched against,
                * the **value** $v^{(j)} = x^{(j)} W_v$: what token $j$ contributes when it is chosen.

                $W_q, W_k, W_v$ are $d_\text{in} \times d_\text{out}$ matrices; training adjusts them.
                """
            ),
            diagrams.qkv_projection(
                {
                    "input": "input x",
                    "query": "queries  Q",
                    "key": "keys  K",
                    "value": "values  V",
                    "scores": "scores\nQ Kᵀ",
                    "softmax": "÷ √d_k, softmax",
                    "weights": "weights  A",
                    "context": "context\nZ = A V",
                }
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def s3_4_1(mo):
    mo.md(r"""
    ### 3.4.1 Computing the attention weights step by step

    As in the book we take $d_\text{in} = 3$, $d_\text{out} = 2$, and the second token as the
    query, and fill the three matrices with random numbers in $[0, 1)$ from seed 123
    (`with seeded(123):` is this notebook's `torch.manual_seed(123)`; a note further down says why).
    """)
    return


@app.cell
def step_by_step(inputs, printout, seeded, torch):
    x_2 = inputs[1]  # (3,), the query token "journey"
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
    attn_scores_2 = query_2 @ keys.T  # (6,): one score per key
    d_k = keys.shape[-1]
    attn_weights_2 = torch.softmax(attn_scores_2 / d_k**0.5, dim=-1)  # (6,)
    context_vec_2 = attn_weights_2 @ values  # (2,)
    printout.labelled(("scores:", attn_scores_2), ("weights:", attn_weights_2), ("context:", context_vec_2))
    return


@app.cell(hide_code=True)
def seeded_note(mo):
    mo.accordion(
        {
            "Why `with seeded(123):` instead of `torch.manual_seed(123)`?": mo.md(r"""
            It seeds the same generator, and also holds it until the block ends. When a teacher serves
            the notebook to a class, every student's cells run in one Python process and share that
            generator; without the hold, another student's cell could draw numbers in the middle of
            ours, and we would print numbers that are not the book's.
            """)
        }
    )
    return


@app.cell(hide_code=True)
def scaling_note(mo):
    mo.md(r"""
    **Why divide by $\sqrt{d_k}$?** Take a query $q$ and a key $k$ whose $d_k$ components are
    independent, with mean 0 and variance 1. Their dot product $q \cdot k = \sum_{m=1}^{d_k} q_m k_m$
    is a sum of $d_k$ such products, each with mean 0 and variance 1, so its *variance* is $d_k$ and
    its spread (standard deviation) is $\sqrt{d_k}$. Softmax turns spread into certainty: scores far
    apart give one key nearly all the weight, and a nearly one-hot softmax passes almost no
    gradient back, so training learns slowly. Dividing by $\sqrt{d_k}$ brings the spread back to 1
    for every $d_k$; dividing by $d_k$ would shrink it to $1/\sqrt{d_k}$ and flatten every row.

    The charts below draw such vectors (400 queries, each against 16 keys, for every $d_k$) and
    measure the spread of the scores, the mean largest of the 16 weights (1 would be one-hot), and
    the size of the softmax's gradient (the norm of its Jacobian, 0 for a one-hot row).
    """)
    return


@app.cell(hide_code=True)
def scaling_import():
    from shared import scaling  # the sqrt(d_k) demo (imported here, not in setup: it is used only in 3.4.1)

    return (scaling,)


@app.cell(hide_code=True)
def scaling_demo(mo, scaling):
    _spreads = scaling.spread_demo()  # seeded random vectors, mean 0 and variance 1
    _big, _small = scaling.at(_spreads, 128), scaling.at(_spreads, 2)
    mo.vstack(
        [
            scaling.spread_figure(
                {
                    "spread": "spread of the scores",
                    "top": "mean largest weight",
                    "gradient": "softmax gradient size",
                    "raw": "q·k",
                    "scaled": "q·k / √d_k",
                    "over_d_k": "q·k / d_k",
                    "d_k": "d_k",
                    "alt": "Spread of q·k, largest softmax weight and gradient size against d_k, with and without dividing by √d_k",
                }
            ),
            mo.md(
                f"Measured here: at $d_k = 128$ the scores spread by **{_big.raw_std:.1f}** ($\\sqrt{{128}} \\approx 11.3$), divided by $\\sqrt{{d_k}}$ by **{_big.scaled_std:.2f}**. Without the divisor the largest weight averages **{_big.raw_top:.2f}** and the gradient has shrunk to **{_big.raw_gradient:.2f}** (at $d_k = 2$: {_small.raw_top:.2f} and {_small.raw_gradient:.2f}); with it they stay near **{_big.scaled_top:.2f}** and **{_big.scaled_gradient:.2f}** at every $d_k$."
            ),
            mo.md(
                r"In multi-head attention (3.6.2), $d_k$ is the width of *one head*, `head_dim` $= d_\text{out} / h$, not $d_\text{out}$: each head's queries and keys have `head_dim` components, and that is what `keys.shape[-1]` is after the split."
            ),
        ]
    )
    return


@app.cell(hide_code=True)
def scaling_modules(mo):
    mo.md(r"""
    **The chapter's modules.** Below, the same switch inside `SelfAttention_v1` and
    `SelfAttention_v2` on our six tokens ($d_\text{in} = 3$). The book's uniform $[0, 1)$ weights
    are not the case above: every weight and every input is positive, so every query, key and
    score is positive, and all of them grow with $d_k$ together. Every query then gives its largest
    weight to the same key, and dividing by $\sqrt{d_k}$ slows the sharpening down without stopping
    it. `nn.Linear`'s initialisation draws small weights of both signs (within
    $\pm 1/\sqrt{d_\text{in}}$); with the divisor every row stays close to an even spread. The
    sentence under the plots says what the current setting shows.
    """)
    return


@app.cell
def init_choice_control(mo):
    init_choice = mo.ui.radio(
        options={"uniform in [0, 1)  (SelfAttention_v1)": "uniform", "nn.Linear default  (SelfAttention_v2)": "linear"},
        value="uniform in [0, 1)  (SelfAttention_v1)",
        label="Weight initialisation",
    )
    init_choice
    return (init_choice,)


@app.cell
def scale_switch_control(mo):
    scale_on = mo.ui.switch(value=True, label="Divide scores by √d_k")
    scale_on
    return (scale_on,)


@app.cell
def key_dim_control(mo):
    key_dim = mo.ui.slider(steps=[2, 4, 8, 16, 32, 64, 128], value=2, label="d_out = d_k", show_value=True)
    key_dim
    return (key_dim,)


@app.cell
def trainable_length_control(example, mo):
    trainable_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="Sequence length", show_value=True)
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
            attention_heatmaps(_view.scores, _labels, titles=["Scores  Q Kᵀ (before scaling)"], vmin=float(_view.scores.min()), vmax=float(_view.scores.max()), max_width=470, **SCORE_LABELS),
            attention_heatmaps(_view.weights, _labels, titles=["Attention weights"], max_width=470, **WEIGHT_LABELS),
        ],
        justify="start",
        wrap=True,
    )
    return


@app.cell(hide_code=True)
def trainable_caption(TOKENS, init_choice, key_dim, mo, scaling, trainable_length):
    _effect = scaling.module_effect(trainable_length.value, key_dim.value, init_choice.value)
    if _effect.num_tokens == 1:
        _agree = "With one token, its only key takes all the weight."
    elif _effect.shared_top_key is not None:
        _agree = f"All {_effect.num_tokens} queries give their largest weight to the same key, “{TOKENS[_effect.shared_top_key]}”."
    else:
        _agree = "The queries do not all give their largest weight to the same key."
    _signs = "Every score is positive." if _effect.all_scores_positive else "The scores have both signs."
    mo.md(
        f"Here, $d_k = {_effect.d_k}$: {_agree} {_signs} The mean largest weight is **{_effect.scaled_top:.2f}** with the divisor and **{_effect.raw_top:.2f}** without (an even spread over {_effect.num_tokens} tokens would be {1 / _effect.num_tokens:.2f})."
    )
    return


@app.cell(hide_code=True)
def s3_4_2(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.4.2 Implementing a compact self-attention Python class

            The same steps for all tokens at once, packed into a PyTorch module. This is the code that
            runs (shown from `shared/attention.py`), and only the chapter's steps: the plots read the
            weights from outside, by watching this `forward` run (`forward_with_weights`).

            """),
            mo.md(printout.source_markdown(attention.SelfAttention_v1)),
        ]
    )
    return


@app.cell
def v1_numbers(attention, inputs, seeded):
    with seeded(123):
        sa_v1 = attention.SelfAttention_v1(3, 2)
    sa_v1(inputs)  # the second row is context_vec_2 from above
    return


@app.cell(hide_code=True)
def v2_intro(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            `nn.Linear` layers do the same multiplication, initialise their weights better for training
            and can add a bias. That version, `SelfAttention_v2`, is the one we build on:

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
    #### Exercise 3.1 · Comparing `SelfAttention_v1` and `SelfAttention_v2`

    Write `transfer_weights(sa_v1, sa_v2)` so that, after it runs, `sa_v1` produces exactly the
    output of `sa_v2`. Hint: `nn.Linear` stores its weight matrix as $(d_\text{out}, d_\text{in})$.
    Edit the next cell (in `marimo edit`); the check below it reacts as soon as you do.
    """)
    return


@app.cell
def exercise_3_1_answer():
    def transfer_weights(sa_v1, sa_v2):
        # Your code here: copy sa_v2's three weight matrices into sa_v1 (use .copy_ on the parameters).
        raise NotImplementedError("not answered yet")

    answer_3_1 = None  # when your function is ready, set: answer_3_1 = transfer_weights
    return (answer_3_1,)


@app.cell(hide_code=True)
def exercise_3_1_check(STATUS_WORDS, answer_3_1, exercises, mo, printout):
    _check = exercises.check_weight_transfer(answer_3_1)
    _verdict = {
        "todo": mo.callout(mo.md("Not answered yet: fill in `transfer_weights` and set `answer_3_1 = transfer_weights`."), kind="neutral"),
        "error": mo.callout(mo.md(f"Your function raised an error: `{_check.detail.get('error', '')}`"), kind="danger"),
        "wrong": mo.callout(mo.md(f"Not yet: the outputs still differ by up to {_check.detail.get('max_difference', 0):.4f}."), kind="warn"),
        "correct": mo.callout(mo.md("Correct: `sa_v1` now computes exactly what `sa_v2` computes."), kind="success"),
    }[_check.status]
    _solution = mo.vstack(
        [
            mo.md(printout.source_markdown(exercises.solution_weight_transfer)),
            mo.md(f"Checked here: **{STATUS_WORDS[exercises.check_weight_transfer(exercises.solution_weight_transfer).status]}**."),
        ]
    )
    mo.vstack([_verdict, mo.accordion({"Show a worked solution": _solution})])
    return


@app.cell(hide_code=True)
def s3_5(mo):
    mo.md(r"""
    ## 3.5 Hiding future words with causal attention

    A language model writes one token at a time, so when it works out token $i$ it must not
    peek at the tokens after it. **Causal** (or masked) attention lets each query attend only to
    itself and to earlier tokens: in the weight matrix, everything above the diagonal becomes 0.

    ### 3.5.1 Applying a causal attention mask

    The book first zeroes the future weights and renormalises each row. Setting the future
    *scores* to $-\infty$ before the softmax does the same in one step, since $e^{-\infty} = 0$:
    """)
    return


@app.cell
def mask_diagram(diagrams):
    diagrams.mask_steps({"scores": "scores", "masked": "future → −∞", "weights": "weights", "minus_inf": "mask"})
    return


@app.cell
def causal_by_hand(inputs, sa_v2, torch):
    with torch.no_grad():
        queries = sa_v2.W_query(inputs)  # (6, 2)
        keys_v2 = sa_v2.W_key(inputs)  # (6, 2)
        scores_v2 = queries @ keys_v2.T  # (6, 6)
    context_length = scores_v2.shape[0]
    mask = torch.triu(torch.ones(context_length, context_length), diagonal=1)  # 1 above the diagonal
    masked_scores = scores_v2.masked_fill(mask.bool(), -torch.inf)  # (6, 6)
    causal_weights = torch.softmax(masked_scores / keys_v2.shape[-1] ** 0.5, dim=-1)  # (6, 6)
    causal_weights
    return (causal_weights,)


@app.cell
def mask_switch_control(mo):
    mask_on = mo.ui.switch(value=True, label="Causal mask")
    mask_on
    return (mask_on,)


@app.cell
def causal_length_control(example, mo):
    causal_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="Sequence length", show_value=True)
    causal_length
    return (causal_length,)


@app.cell
def causal_plot(TOKENS, WEIGHT_LABELS, attention_heatmaps, causal_length, explorer, mask_on):
    _view = explorer.explore_causal(causal_length.value, causal=mask_on.value)
    attention_heatmaps(
        _view.weights,
        TOKENS[: causal_length.value],
        titles=["Causal attention weights" if mask_on.value else "Weights without a mask"],
        masked=_view.masked,
        **WEIGHT_LABELS,
        show_row_sums=True,
    )
    return


@app.cell(hide_code=True)
def causal_caption(mo):
    mo.md(r"""
    Hatched cells are masked: their weight is exactly 0 because the key comes after the query.
    That is different from a small weight, which the model computed and could have made larger.
    Switch the mask off and the upper triangle fills in. The column $\Sigma$ shows each row's sum:
    always 1, mask or no mask.
    """)
    return


@app.cell(hide_code=True)
def mask_routes_intro(equivalence, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### Two routes to the same weights

            The book masks in two ways. The first takes the softmax of every score, sets the weights
            of future tokens to 0, and divides each row by its new sum, so that the row adds up to 1
            again. The second sets the future *scores* to $-\infty$ and takes the softmax once. This
            function does both:

            """),
            mo.md(printout.source_markdown(equivalence.mask_routes)),
        ]
    )
    return


@app.cell
def mask_routes_check(equivalence, inputs, printout, sa_v2, torch):
    with torch.no_grad():
        route_scores = sa_v2.W_query(inputs) @ sa_v2.W_key(inputs).T  # (6, 6): the scores of 3.5.1
    routes = equivalence.mask_routes(route_scores, d_k=2)
    printout.labelled(
        ("softmax, zero the future, renormalise:", routes.renormalised),
        ("future scores to -inf, then softmax:", routes.minus_inf),
        ("largest difference:", round(routes.max_difference, 9)),
    )
    return (route_scores,)


@app.cell(hide_code=True)
def diagonal_trap_intro(mo):
    mo.md(r"""
    The two agree to the last digit float32 keeps. The second needs one softmax instead of a
    softmax and a division, which is why the classes use it.

    #### A trap: masking the diagonal too

    The mask comes from `torch.triu(..., diagonal=1)`: ones strictly above the diagonal. Write
    `diagonal=0` and every token is hidden from itself as well. The first token may look only at
    itself, so it is left with nothing: its whole row of scores is $-\infty$, softmax divides 0
    by 0, and the row becomes NaN (*not a number*):
    """)
    return


@app.cell
def diagonal_trap_check(equivalence, printout, route_scores):
    trapped = equivalence.diagonal_trap(route_scores, d_k=2)  # the mask from torch.triu(..., diagonal=0)
    printout.labelled(("weights:", trapped), ("rows with NaN:", equivalence.nan_rows(trapped)))
    return


@app.cell(hide_code=True)
def diagonal_trap_caption(mo):
    mo.callout(
        mo.md(
            "One NaN row is enough. In the next layer every later token attends to the first one and takes in its NaN, and soon every number, the loss included, is NaN. Hide only the future (`diagonal=1`): a token may always attend to itself."
        ),
        kind="warn",
    )
    return


@app.cell(hide_code=True)
def s3_5_2(mo):
    mo.md(r"""
    ### 3.5.2 Masking additional attention weights with dropout

    **Dropout** randomly zeroes a fraction $p$ of the attention weights during training, so the
    model cannot lean on a few particular connections (a guard against overfitting). To keep the
    expected total unchanged, the weights that survive are multiplied by $1/(1-p)$. At
    inference time (`model.eval()`) dropout does nothing.

    With $p = 0.5$ on a matrix of ones, about half the entries become 0 and the rest 2.
    Which entries are dropped comes from the random generator, and the book warns that the same
    seed can give a different pattern on another operating system or PyTorch build; if yours
    differs from the page, the rule still holds.
    """)
    return


@app.cell
def dropout_ones(seeded, torch):
    dropout = torch.nn.Dropout(0.5)  # p = 0.5: survivors are scaled by 1 / (1 - 0.5) = 2
    example_ones = torch.ones(6, 6)
    with seeded(123):
        thinned_ones = dropout(example_ones)
    thinned_ones
    return (dropout,)


@app.cell
def dropout_weights(causal_weights, dropout, seeded):
    with seeded(123):
        thinned_weights = dropout(causal_weights)  # the causal weights from 3.5.1, thinned
    thinned_weights
    return


@app.cell
def dropout_control(mo):
    dropout_p = mo.ui.slider(0.0, 0.9, step=0.05, value=0.5, label="Dropout rate p", show_value=True)
    dropout_p
    return (dropout_p,)


@app.cell
def dropout_plot(TOKENS, WEIGHT_LABELS, attention_heatmaps, dropout_p, explorer):
    _p = dropout_p.value
    _view = explorer.explore_causal(6, _p)
    attention_heatmaps(
        _view.weights,
        TOKENS[:6],
        titles=[f"p = {_p:.2f}, survivors × {1 / (1 - _p):.2f}"],
        masked=_view.masked,
        **WEIGHT_LABELS,
        show_row_sums=True,
    )
    return


@app.cell(hide_code=True)
def dropout_caption(mo):
    mo.md(r"""
    Survivors are scaled by $1/(1-p)$ (the title shows the factor), dropped weights are 0, so a
    row's sum $\Sigma$ (in red when it is not 1) is no longer 1; it is 1 only *on average* over many
    random draws. Set $p$ to 0 and every row sums to 1 again. At $p = 0.5$ the plot shows the
    book's matrix above.
    """)
    return


@app.cell(hide_code=True)
def s3_5_3(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.5.3 Implementing a compact causal self-attention class

            The class adds three things to `SelfAttention_v2`: it accepts a *batch* of sequences,
            shape $(b, T, d_\text{in})$; it keeps the mask as a buffer (moved along with the module to
            another device, never trained); and it applies dropout to the weights.

            """),
            mo.md(printout.source_markdown(attention.CausalAttention)),
        ]
    )
    return


@app.cell
def causal_class(attention, inputs, printout, seeded, torch):
    batch = torch.stack((inputs, inputs))  # (2, 6, 3): two copies of the sentence
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
            #### Why the mask is a buffer

            `CausalAttention` keeps its mask with `self.register_buffer("mask", ...)`. What would go
            wrong with a plain attribute, `self.mask = ...`? Here is that version, otherwise the same
            class:
            """),
            mo.md(printout.source_markdown(buffers.CausalAttentionPlainMask)),
            mo.md(r"""
            The cell below builds both from the same seed and moves each to another device with
            `.to(...)`: to this machine's GPU if it has one (CUDA, or Apple's MPS), and to PyTorch's
            `meta` device, which every machine has (its tensors have a shape and no data). On a GPU it
            also runs both on the chapter's batch.
            """),
        ]
    )
    return


@app.cell
def buffer_facts(attention, batch, buffers, devices, mo, seeded):
    with seeded(123):
        with_buffer = attention.CausalAttention(3, 2, 6, 0.0)  # self.register_buffer("mask", ...)
    with seeded(123):
        plain_mask = buffers.CausalAttentionPlainMask(3, 2, 6, 0.0)  # self.mask = ...
    reader_device = devices.pick_device()  # CUDA, then Apple's MPS, else the CPU
    destinations = (buffers.META,) if reader_device.type == "cpu" else (reader_device, buffers.META)
    buffer_contrast = {
        "buffer": buffers.contrast(with_buffer, batch, destinations),  # moves it, runs it, notes what happened
        "plain": buffers.contrast(plain_mask, batch, destinations),
    }
    _b, _p = buffer_contrast["buffer"], buffer_contrast["plain"]
    _mark = {True: "✓", False: "✗"}
    _rows = [
        "| | `register_buffer` | plain attribute |",
        "| :-- | :-- | :-- |",
        f"| `mask` in `state_dict()` | {_mark['mask' in _b.saved]} | {_mark['mask' in _p.saved]} |",
        f"| `mask` in `parameters()` | {_mark['mask' in _b.parameters]} | {_mark['mask' in _p.parameters]} |",
        f"| `parameters()` | {', '.join(_b.parameters)} | {', '.join(_p.parameters)} |",
    ]
    for _mb, _mp in zip(_b.moves, _p.moves, strict=True):
        _rows.append(f"| after `.to({_mb.device})`: `mask.device` | `{_mb.mask_device}` | `{_mp.mask_device}` |")
        if _mb.device != "meta":
            _rows.append(f"| after `.to({_mb.device})`: the forward pass | {_mb.output or _mb.error} | {_mp.output or '**' + str(_mp.error) + '**'} |")
    _gpu = [(_mb, _mp) for _mb, _mp in zip(_b.moves, _p.moves, strict=True) if _mb.device != "meta"]
    if _gpu and _gpu[0][1].error:
        _verdict = mo.callout(mo.md(f"On this machine's GPU the plain version fails, with PyTorch's own words: `{_gpu[0][1].error}`. Its mask stayed on the CPU while the weights and the scores went to `{_gpu[0][1].weight_device}`."), kind="danger")
    elif _gpu:
        _verdict = mo.callout(mo.md(f"On this machine's GPU both versions ran. The plain mask still stayed on `{_gpu[0][1].mask_device}`."), kind="warn")
    else:
        _verdict = mo.callout(mo.md("This machine has no GPU, so nothing can fail here. On a GPU, the plain version's forward pass would combine scores on the GPU with a mask left on the CPU, which PyTorch refuses."), kind="neutral")
    mo.vstack(
        [
            mo.md(f"The best device here: **{devices.describe(reader_device)}**"),
            mo.md("\n".join(_rows)),
            _verdict,
            mo.md("On `meta` the table shows *where* each mask went: `.to(...)` moved the buffer with the weights and left the plain attribute on the CPU."),
            mo.md(
                "Neither mask is in `parameters()`, so no optimizer would ever update either: being *never optimised* is what separates a buffer from a parameter (the three weights). What the buffer adds over a plain attribute is the rest of the table: `state_dict()` saves it, and `.to(...)` moves it with the weights."
            ),
        ]
    )
    return (buffer_contrast,)


@app.cell(hide_code=True)
def s3_6(attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ## 3.6 Extending single-head attention to multi-head attention

            ### 3.6.1 Stacking multiple single-head attention layers

            One head learns one way of relating tokens. Several heads, each with its own $W_q, W_k, W_v$,
            can learn several at once. The most direct version runs $h$ causal heads side by side and
            concatenates their outputs, so the output width is $h \cdot d_\text{out}$:

            """),
            mo.md(printout.source_markdown(attention.MultiHeadAttentionWrapper)),
        ]
    )
    return


@app.cell
def wrapper_numbers(attention, batch, printout, seeded):
    with seeded(123):
        mha_wrapper = attention.MultiHeadAttentionWrapper(3, 2, batch.shape[1], 0.0, num_heads=2)
    wrapper_context = mha_wrapper(batch)  # (2, 6, 4): two heads of width 2
    printout.labelled(("shape:", wrapper_context.shape), ("context:", wrapper_context))
    return


@app.cell(hide_code=True)
def exercise_3_2_text(mo):
    mo.md(r"""
    #### Exercise 3.2 · Returning 2-dimensional embedding vectors

    Keep `num_heads=2`. Which `d_out` makes the wrapper return context vectors of width 2?
    """)
    return


@app.cell
def exercise_3_2_input(mo):
    answer_3_2 = mo.ui.number(start=1, stop=16, step=1, value=2, label="d_out per head")
    answer_3_2
    return (answer_3_2,)


@app.cell(hide_code=True)
def exercise_3_2_check(answer_3_2, exercises, mo):
    _check = exercises.check_wrapper_width(answer_3_2.value)
    _verdict = {
        "todo": mo.callout(mo.md("Enter a value above."), kind="neutral"),
        "error": mo.callout(mo.md(f"That value is not accepted: {_check.detail.get('error', '')}"), kind="danger"),
        "wrong": mo.callout(mo.md(f"Not yet: with this `d_out` the wrapper returns vectors of width {_check.detail.get('width')}."), kind="warn"),
        "correct": mo.callout(mo.md("Correct: two heads of width 1, concatenated, give 2-dimensional vectors."), kind="success"),
    }[_check.status]
    mo.vstack(
        [
            _verdict,
            mo.accordion(
                {
                    "Show a worked solution": mo.md(
                        f"Output width = `num_heads * d_out`, so with two heads `d_out = {exercises.SOLUTION_WRAPPER_D_OUT}`: `MultiHeadAttentionWrapper(3, 1, 6, 0.0, num_heads=2)`."
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
            ### 3.6.2 Implementing multi-head attention with weight splits

            The wrapper runs its heads one after another. `MultiHeadAttention` instead uses *one*
            $d_\text{in} \times d_\text{out}$ projection each for queries, keys and values and
            splits the result into $h$ heads of width $d_\text{head} = d_\text{out} / h$ by reshaping:
            $(b, T, d_\text{out}) \to (b, T, h, d_\text{head}) \to (b, h, T, d_\text{head})$.
            All heads are then computed in one batched matrix product, and a final linear layer
            `out_proj` mixes the concatenated heads.

            """),
            mo.md(printout.source_markdown(attention.MultiHeadAttention)),
        ]
    )
    return


@app.cell
def mha_numbers(attention, batch, printout, seeded):
    with seeded(123):
        mha = attention.MultiHeadAttention(3, 2, batch.shape[1], 0.0, num_heads=2)
    mha_context = mha(batch)  # (2, 6, 2): here d_out = 2 is the total width
    printout.labelled(("shape:", mha_context.shape), ("context:", mha_context))
    return


@app.cell(hide_code=True)
def head_split_intro(mo):
    mo.md(r"""
    #### The head split, step by step

    Where does each head's share of $d_\text{out}$ go? The figure below replays the `forward` of
    `MultiHeadAttention` on the chapter's batch (two copies of our six tokens, $d_\text{in} = 3$)
    with a real module's weights, one row per line of code. On the left: the line, then the shape,
    `stride()` and `is_contiguous()` of the tensor it gave, all read from that tensor. On the right:
    the tensor itself, for the first sequence of the batch.

    One rule draws every tensor: the first axis after the batch becomes panels side by side, the
    last two are each panel's rows and columns. So $(T, h, d_\text{head})$ is $T$ panels, one per
    token (its number above), each with a row per head; $(h, T, d_\text{head})$ is $h$ panels,
    one per head, each with a row per token. A number's colour is the head it belongs to, its
    shade its size, and the small numbers left of the rows are the tokens the rows came from.

    Under every tensor, two thin strips hold the same numbers in one line, coloured by head:
    **memory** is the block of numbers in the order it lies in memory, **read** is the order the
    tensor's shape reads them (panel after panel, row after row). When the two differ, the second
    label turns red.

    Follow the colours. `view` cuts each token's row of $d_\text{out}$ numbers into $h$ pieces of
    $d_\text{head} = d_\text{out} / h$. `transpose(1, 2)` gathers each head's pieces into a
    $(T, d_\text{head})$ matrix of its own, so one batched `@` computes every head's $(T, T)$
    scores; its memory strip does not change at all, only the reading order does. On the way back,
    `transpose(1, 2)` and `contiguous().view` put the heads side by side again, each in the columns
    it started from, and `out_proj` mixes them. Try 1, 4 and 12 heads, a wider model, and the wrong
    reshape.
    """)
    return


@app.cell
def head_split_controls(headsplit, mo):
    # Made and shown in one cell: a move then re-runs only the figure's cell, not a layout cell too.
    split_num_heads = mo.ui.slider(steps=list(headsplit.HEAD_COUNTS), value=4, label="Number of heads h", show_value=True)
    split_d_out = mo.ui.slider(steps=list(headsplit.WIDTHS), value=12, label="Model width d_out", show_value=True)
    wrong_reshape = mo.ui.switch(value=False, label="Wrong reshape: view straight to (b, h, T, d_head)")
    mo.hstack([split_num_heads, split_d_out, wrong_reshape], justify="start", gap=2)
    return split_d_out, split_num_heads, wrong_reshape


@app.cell
def head_split_words():
    # The words in the head-split figure (its lines of code stay as they are).
    SPLIT_WORDS = {
        "projection": "the query projection: one colour per head",
        "split": "each token's row cut into h pieces, one per head",
        "split_wrong": "h blocks of memory, called heads, each with rows of several tokens and heads",
        "heads": "heads before tokens: one (T, d_head) matrix per head",
        "skipped": "skipped: no transpose",
        "weights": "each head's attention weights",
        "context": "each head's context vectors",
        "back": "tokens before heads again",
        "merged": "the heads side by side again, each in its own columns",
        "output": "out_proj mixes the heads",
        "view_fails": "without contiguous(), view fails:",
        "view_works": "view would work here even without contiguous(): with one head, or one number per head, the axes it joins still step through memory evenly",
        "memory": "memory",
        "reading": "read",
        "difference": "largest difference from MultiHeadAttention:",
        "rows": "the small numbers left of the rows are the tokens the rows came from:",
        "batch": "(the first of the batch's two sequences)",
        "mixed": "mixes all heads",
        "masked": "masked",
    }
    return (SPLIT_WORDS,)


@app.cell
def head_split_plot(HEAD, SPLIT_WORDS, TOKENS, headfigures, headsplit, split_d_out, split_num_heads, wrong_reshape):
    _heads, _width = split_num_heads.value, split_d_out.value
    head_split = headsplit.split_heads(_heads, _width, wrong_reshape=wrong_reshape.value)  # the real module, replayed
    headfigures.head_split_figure(
        head_split,
        TOKENS[:6],
        SPLIT_WORDS,
        head_word=HEAD,
        alt=f"The head split of MultiHeadAttention, step by step, with {_heads} heads and d_out = {_width}",
    )
    return (head_split,)


@app.cell(hide_code=True)
def contiguous_note(mo):
    mo.md(r"""
    **Why `contiguous()`?** A tensor is a block of memory plus its *strides*: how many numbers to
    skip for one step along each axis. `view` never moves a number; it gives the same block new
    strides. `transpose(1, 2)` does not move numbers either: it swaps two strides (the memory strip
    stays the same), and `is_contiguous()` turns False (red in the figure).

    The precise rule: `view` can join neighbouring axes into one only if their strides are
    *compatible*, that is, if each joined axis's stride equals the size times the stride of the
    axis after it, so one fixed step walks through all of them (axes of length 1 do not count: they
    are never stepped along). Back at $(b, T, h, d_\text{head})$ the head axis has stride
    $T \cdot d_\text{head}$ while the $d_\text{head}$ axis after it holds $d_\text{head}$ numbers
    of stride 1: unless $T = 1$ these differ, and `view(b, T, d_out)` refuses with the error the
    figure prints. `contiguous()` copies the numbers into a new block in reading order (the memory
    strip now matches the read strip), and then `view` can join each token's heads. (`reshape` does
    both steps, and copies only when it must.)

    With one head, or one number per head ($h = d_\text{out}$), one of the two joined axes has
    length 1, so the rule holds and `view` works without `contiguous()`, although
    `is_contiguous()` says False there: try 12 heads at width 12. Being contiguous is enough for
    `view`, not necessary.

    **The wrong reshape.** Switch it on, and the code calls `view(b, h, T, d_head)` straight away.
    The shapes are right and nothing fails, but the result is wrong. `view` cuts the memory in
    order, so the first "head" gets the first $T \cdot d_\text{head}$ numbers: pieces of the first
    tokens, from every head (see its mixed colours and repeated token numbers). Attention then
    mixes pieces that were never meant to meet, and the output no longer matches
    `MultiHeadAttention`: the last row prints the largest difference. With one head the two
    reshapes happen to agree.
    """)
    return


@app.cell(hide_code=True)
def explorer_intro(mo):
    mo.md(r"""
    #### Explore multi-head attention

    A `MultiHeadAttention(3, 12, 16, p, num_heads=h)` on our sentence (model width 12, so the
    head count must divide 12). Each panel is one head's weight matrix: rows are queries, columns
    are keys, and the outlined row is the query token you pick. Things to try:

    * more heads: each head gets fewer dimensions ($12 / h$) and its own pattern;
    * dropout: a different random thinning per head, and the row sums $\Sigma$ leave 1;
    * the mask off: every token may attend to the future;
    * scaling off: the patterns sharpen.
    """)
    return


@app.cell
def heads_control(explorer, mo):
    num_heads = mo.ui.slider(steps=explorer.head_counts(), value=2, label="Number of heads", show_value=True)
    return (num_heads,)


@app.cell
def mha_dropout_control(mo):
    dropout_rate = mo.ui.slider(0.0, 0.9, step=0.05, value=0.0, label="Dropout rate p", show_value=True)
    return (dropout_rate,)


@app.cell
def mha_length_control(example, mo):
    sequence_length = mo.ui.slider(1, example.MAX_TOKENS, value=6, label="Sequence length", show_value=True)
    return (sequence_length,)


@app.cell
def mha_query_control(TOKENS, mo):
    query_token = mo.ui.dropdown(
        options={f"{position + 1}. {token}": position for position, token in enumerate(TOKENS)},
        value=f"2. {TOKENS[1]}",
        label="Query token",
    )
    return (query_token,)


@app.cell
def mha_causal_control(mo):
    causal_mask = mo.ui.switch(value=True, label="Causal mask")
    return (causal_mask,)


@app.cell
def mha_scaled_control(mo):
    scale_by_sqrt_dk = mo.ui.switch(value=True, label="Divide by √d_k")
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
    # The controls sit beside the grid, in the output that every move redraws anyway.
    mo.hstack(
        [
            mo.vstack([num_heads, dropout_rate, sequence_length, query_token, causal_mask, scale_by_sqrt_dk], gap=1.25),
            attention_heatmaps(
                mha_view.weights,  # (heads, T, T)
                TOKENS[:seq_len],
                titles=[f"{HEAD} {h + 1}" for h in range(mha_view.weights.shape[0])],
                masked=mha_view.masked,
                highlight_row=query_token.value if query_token.value < seq_len else None,
                show_row_sums=dropout_rate.value > 0,
                max_width=740,  # with the controls beside it, 12 heads of 16 tokens fit a 1366 x 768 screen
                max_height=720,
                **WEIGHT_LABELS,
            ),
        ],
        widths=[2, 5],  # room for the grid's max_width beside the controls
        align="start",
        gap=1.5,
    )
    return (mha_view,)


@app.cell(hide_code=True)
def exercise_3_3_text(mo):
    mo.md(r"""
    #### Exercise 3.3 · Initialising a GPT-2-sized attention module

    The smallest GPT-2 model has 12 attention heads, 768-dimensional embeddings in and out, and
    a context of 1,024 tokens. Fill in the constructor's arguments; the check counts the
    parameters of the module you describe.
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
        "todo": mo.callout(mo.md("Enter the four values above."), kind="neutral"),
        "error": mo.callout(mo.md(f"That module cannot be built: {_check.detail.get('error', '')}"), kind="danger"),
        "wrong": mo.callout(mo.md(f"Not GPT-2's size yet: this module has {_check.detail.get('parameters', 0):,} parameters."), kind="warn"),
        "correct": mo.callout(mo.md(f"Correct: {_check.detail.get('parameters', 0):,} parameters, {_check.detail.get('head_dim')} dimensions per head."), kind="success"),
    }[_check.status]
    _solution = mo.md(
        "`MultiHeadAttention(768, 768, 1024, 0.0, num_heads=12)`: three $768 \\times 768$ projections without bias, plus `out_proj` with its bias: $4 \\cdot 768^2 + 768 = 2{,}360{,}064$ parameters. (The GPT-2 checkpoints use `qkv_bias=True`, which adds $3 \\cdot 768$ more.)"
    )
    mo.vstack([_verdict, mo.accordion({"Show a worked solution": _solution})])
    return


@app.cell(hide_code=True)
def same_weights_intro(equivalence, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### Same weights, different code

            The wrapper of 3.6.1 and the weight split of 3.6.2 compute the same thing, and so do
            PyTorch's two versions. To see it, take one `MultiHeadAttention` with 4 heads and
            $d_\text{out} = 12$ and copy its weights into the three others:

            * the wrapper, with 4 heads of width $12 / 4 = 3$: head $k$ gets rows $3k$ to $3k + 2$ of
              each projection's weight, because `nn.Linear` stores it as $(d_\text{out}, d_\text{in})$,
              one row per output column (the function below);
            * `SDPAMultiHeadAttention`: the same parameter names, so `load_state_dict` copies everything;
            * `torch.nn.MultiheadAttention`, which stacks $W_q$, $W_k$ and $W_v$ in one `in_proj_weight`.

            The wrapper has no `out_proj`, so the split's `out_proj` is applied to its output. And
            `torch.nn.MultiheadAttention` needs inputs as wide as its output, so here the six tokens
            have random embeddings of width $d_\text{in} = 12$.

            """),
            mo.md(printout.source_markdown(equivalence.copy_into_wrapper)),
        ]
    )
    return


@app.cell
def same_weights_check(IMPLEMENTATION_NAMES, equivalence, mo):
    agreement = equivalence.same_weights(d_out=12, num_heads=4)  # seeded: the same numbers on every machine
    _rows = [f"| {IMPLEMENTATION_NAMES[_name]} | {_difference:.2g} |" for _name, _difference in agreement.differences.items()]
    mo.md("\n".join(["| implementation | largest difference from the weight split |", "| :-- | --: |", *_rows]))
    return (agreement,)


@app.cell
def column_map(agreement, headfigures):
    headfigures.column_map_figure(
        agreement.head_columns,  # found by comparing tensors, not by assuming
        {
            "columns": "The columns of the heads side by side (what out_proj receives), coloured by the head of the wrapper that gives the same numbers",
            "wrapper_head": "wrapper.heads",
        },
        alt="Which columns of the weight split are which head of the wrapper",
    )
    return


@app.cell(hide_code=True)
def same_weights_caption(mo):
    mo.md(r"""
    The differences are float32 rounding, about $10^{-7}$: the four add the same products in
    different orders. Every column of the split's heads, side by side, equals one column of a
    wrapper head's output, and the figure colours each column by that head: head $k$ owns columns
    $3k$ to $3k + 2$. The split keeps every head's numbers together and in order, so
    `contiguous().view` lays out the heads exactly as the wrapper's `torch.cat` does.
    """)
    return


@app.cell(hide_code=True)
def watch_intro(mo):
    mo.md(r"""
    ## Watch attention learn

    Every heatmap so far showed weights fresh from initialisation, and with many heads the panels
    look much alike. What makes heads different is training. This section is not in the book: it
    trains one `MultiHeadAttention` layer, the class of 3.6.2 with its causal mask and dropout, on a
    task small enough to learn while you watch, and shows what each head learned.

    **The task.** The input is a sequence of $T$ random tokens from a vocabulary of 8, shown as the
    letters A to H. At every position the model must name the tokens a fixed number of positions
    back: the task's *offsets*. With offsets 1 and 3, that is the token just before and the token
    three before. The tokens are random, so there is no pattern to guess from: the model has to look.

    **The model.** Token embeddings plus position embeddings (width 32), one
    `MultiHeadAttention(32, 32, T, dropout, num_heads=h)`, and a linear read-out that predicts one
    token per offset. Nothing else carries information from one position to another, so to copy the
    token three back, some head must put its attention weight on that key. Each row of a head's
    weights sums to 1: a head that serves two offsets has to split its weight between two keys, and
    it passes on a blend of both tokens.
    """)
    return


@app.cell(hide_code=True)
def watch_code(mo, printout, training):
    mo.vstack(
        [
            mo.md(r"""
            Here are the model and the training loop, from `shared/training.py`. The loss is the
            cross-entropy of each offset's prediction, summed over the offsets: guessing scores
            $\ln 8 \approx 2.08$ per offset, and copying without a mistake scores 0. `draws` is the
            run's own stream of random numbers (initial weights, batches, dropout masks), so every
            reader of a shared server gets the same run for the same seed. Every 5 steps the loop
            keeps a snapshot: each head's weights in eval mode (dropout off) on fixed probe sequences.
            The step slider below moves through these snapshots; it does not train again.
            """),
            mo.md(printout.source_markdown(training.CopyModel)),
            mo.md(printout.source_markdown(training.train)),
        ]
    )
    return


@app.cell(hide_code=True)
def watch_try(mo):
    mo.md(r"""
    #### Train it yourself

    Pick a task and a number of heads. A new setting trains in a second or two, with a progress
    bar. The server remembers every setting, so one that anybody trained before comes back at once.
    The panels show each head's weights on one probe sequence (queries down, keys across), the chart
    shows the loss, and the table gives each offset the head that attends to it most. The head has
    *taken* the offset when it puts at least 80 % of its attention there. Things to try:

    * **Two heads, offsets 1 and 3** (the default). Drag the step slider from 0. At first every head
      spreads its weight over the earlier tokens. By step 50 one head puts nearly all of its weight
      on the key one back (a bright line just below the diagonal), the other on the key three back
      (a line two cells lower), and the loss has fallen from the guessing line to almost 0.
    * **One head.** It cannot put all of its weight on two keys, so it splits it, about 60 % one
      back and 45 % three back (the two shares are averaged over different queries, so they need
      not add up to 100 %). The loss stops near 1, far from 0.
    * **Four heads.** Learned as fast: two heads take the two offsets, and the spare ones lean
      towards one or the other.
    * **The tokens 1, 2 and 4 back**, with two heads and then four. With two, each head splits its
      weight between two offsets and the loss stays up; with four, every offset gets a head of its own.
    * **The next token.** The causal mask hides every later key from every head, so there is nothing
      to learn: the loss stays on the guessing line. This is the mask of 3.5 at work.
    * **Dropout** during training zeroes random attention weights, at times the very weight a head
      needs, so the training loss (light line) stays high while the loss with dropout off (dark
      line) still falls. Spare heads turn into backups: with four heads on the previous token and
      dropout 0.5, all four heads learn the same offset.
    * **Three heads** cannot split the width 32, and a sequence shorter than the task needs has no
      such position: the app says so. **Another seed** starts from other weights: other heads take
      the offsets, and the outcome is the same.
    """)
    return


@app.cell
def watch_task_control(mo):
    copy_task = mo.ui.dropdown(
        options={
            "the previous token (1 back)": (1,),
            "the tokens 1 and 3 back": (1, 3),
            "the tokens 1, 2 and 4 back": (1, 2, 4),
            "the next token (1 ahead)": (-1,),
        },
        value="the tokens 1 and 3 back",
        label="Task: predict",
    )
    return (copy_task,)


@app.cell
def watch_heads_control(mo):
    training_heads = mo.ui.slider(1, 4, value=2, debounce=True, label="Heads", show_value=True)
    return (training_heads,)


@app.cell
def watch_dropout_control(mo):
    training_dropout = mo.ui.slider(0.0, 0.5, step=0.1, value=0.0, debounce=True, label="Dropout during training", show_value=True)
    return (training_dropout,)


@app.cell
def watch_tokens_control(mo, training):
    training_tokens = mo.ui.slider(steps=training.TOKEN_CHOICES, value=training.MAX_TOKENS, debounce=True, label="Tokens per sequence", show_value=True)
    return (training_tokens,)


@app.cell
def watch_seed_control(mo):
    training_seed = mo.ui.number(start=0, stop=999, step=1, value=123, label="Seed")
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
    watch_error = training.setup_error(**watch_settings)  # None when these settings can be trained
    # Each setting trains once per server; the default comes from a file, so opening the notebook trains nothing.
    watch_run = None if watch_error else training.trained(training.Experiment(**watch_settings), title="Training the attention layer")
    _allowed = ", ".join(str(h) for h in training.head_counts())
    _farthest = max(abs(offset) for offset in copy_task.value)
    _messages = {
        "num_heads": f"**{_heads} heads cannot share a width of {training.WIDTH}.** `MultiHeadAttention` gives every head the same number of dimensions, so the head count must divide {training.WIDTH}: pick one of {_allowed}.",
        "offsets": f"**A sequence of {_tokens} tokens has no token {_farthest} positions away.** This task needs at least {_farthest + 1} tokens: move the token slider up, or pick another task.",
    }
    mo.callout(mo.md(_messages.get(watch_error.argument, str(watch_error))), kind="warn") if watch_error else None
    return (watch_run,)


@app.cell
def watch_step_control(mo, training):
    training_step = mo.ui.slider(0, training.STEPS, step=training.SNAPSHOT_EVERY, value=training.STEPS, label="After training step", show_value=True, full_width=True)
    training_step
    return (training_step,)


@app.cell
def watch_plots(HEAD, WEIGHT_LABELS, attention_heatmaps, charts, mo, training_step, watch_run):
    watch_snapshot = watch_run.at(training_step.value) if watch_run else None  # eval mode, after that many steps
    _rows = []
    for _verdict in watch_run.verdicts(training_step.value) if watch_run else []:
        if _verdict.hidden:
            _rows.append(f"| {-_verdict.offset} ahead | none | 0% | hidden by the causal mask |")
        elif _verdict.owned:
            _rows.append(f"| {_verdict.offset} back | {HEAD} {_verdict.head} | {_verdict.share:.0%} | taken |")
        else:
            _rows.append(f"| {_verdict.offset} back | {HEAD} {_verdict.head} | {_verdict.share:.0%} | not taken |")
    mo.vstack(
        [
            attention_heatmaps(
                watch_snapshot.weights,  # (heads, T, T): every head's weights on one probe sequence
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
                        title="Loss",
                        width=540,
                        xlabel="training step",
                        ylabel="loss",
                        train_label="training batches (dropout on)",
                        eval_label="probe sequences (dropout off)",
                        chance_label="guessing",
                        marker_label=f"step {watch_snapshot.step}: loss {watch_snapshot.loss:.2f}",
                    ),
                    mo.md("\n".join(["| token | best head | share of its attention | verdict |", "| :-- | :-- | --: | :-- |", *_rows])),
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
    ## Bonus · Efficient implementations side by side

    Four ways to compute the same causal multi-head attention: the wrapper (3.6.1), the weight
    split (3.6.2), the weight split on PyTorch's fused `scaled_dot_product_attention` kernel
    (`SDPAMultiHeadAttention`), and `torch.nn.MultiheadAttention`. Timing takes a few seconds,
    so it runs only when you press the button. Times are medians, measured on this machine's GPU when
    PyTorch finds one (NVIDIA's CUDA or Apple's MPS) and on one CPU thread otherwise; the plot's title
    names the device. The repository's `python -m benchmarks.attention_speed` measures more sizes,
    and both the time of a single call and the rate of a queue of calls on a GPU.
    """)
    return


@app.cell
def timing_control(mo):
    timing_button = mo.ui.run_button(label="Time the four implementations")
    timing_button
    return (timing_button,)


@app.cell
def timing_result(IMPLEMENTATION_NAMES, charts, devices, mo, timing, timing_button):
    mo.stop(not timing_button.value, mo.md("*Press the button to run the timings.*"))
    _device = devices.pick_device()  # CUDA, then Apple's MPS, else the CPU
    _sizes = {
        "1 × 16 tokens, width 12, 2 heads": timing.compare(1, 16, 12, 2, device=_device),
        "2 × 256 tokens, width 768, 12 heads": timing.compare(2, 256, 768, 12, rounds=5, device=_device),
    }
    _title = f"Forward pass, median time on {devices.describe(_device)}"
    charts.timing_chart(_sizes, names=IMPLEMENTATION_NAMES, title=_title, xlabel="milliseconds")
    return


@app.cell(hide_code=True)
def summary(mo):
    mo.md(r"""
    ## Summary

    * Attention turns each input token into a **context vector**: a weighted sum over the
      sequence, with weights from a softmax over similarity scores.
    * Simple self-attention scores raw embeddings against each other; trainable self-attention
      compares **queries** with **keys** and mixes **values**, with scores scaled by
      $1/\sqrt{d_k}$ to keep softmax soft.
    * A **causal mask** stops a token from attending to later tokens, as a language model that
      writes left to right must; **dropout** on the weights regularises training.
    * **Multi-head attention** runs several heads in parallel. Splitting one projection into heads
      is equivalent to stacking separate heads, and faster; fused kernels such as
      `scaled_dot_product_attention` are faster still.
    * Next, chapter 4 puts `MultiHeadAttention` into a transformer block and builds GPT.
    """)
    return


if __name__ == "__main__":
    app.run()
