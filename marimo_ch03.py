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


@app.cell(hide_code=True)
def words():
    # Token labels for plots: the book's sentence, continued to sixteen tokens.
    TOKENS = "Your journey starts with one step and each new step builds on every step before it".split()
    HEAD = "Head"
    # Words inside the plots and the exercise verdicts.
    WEIGHT_LABELS = {"colorbar_label": "weight", "row_axis_label": "query", "col_axis_label": "key", "masked_label": "masked: a future token", "description": "attention weights"}
    SCORE_LABELS = {**WEIGHT_LABELS, "colorbar_label": "score", "description": "attention scores"}
    STATUS_WORDS = {"todo": "not answered", "error": "error", "wrong": "not yet", "correct": "correct"}
    IMPLEMENTATION_NAMES = {"wrapper": "wrapper (3.6.1)", "split": "weight split (3.6.2)", "sdpa": "SDPA", "torch": "torch.nn.MultiheadAttention"}
    # How a device and a list of values read (devices.describe, printout.join_values).
    DEVICE_WORDS = {"cpu": "CPU ({machine}, {threads} threads)", "cpu_one_thread": "CPU ({machine}, 1 thread)", "mps": "Apple GPU (MPS)"}
    LIST_PATTERN = "{earlier}, {later}"
    return DEVICE_WORDS, HEAD, IMPLEMENTATION_NAMES, LIST_PATTERN, SCORE_LABELS, STATUS_WORDS, TOKENS, WEIGHT_LABELS


@app.cell
def notebook_locale():
    # The notebook's language: the code listings from shared/ show their comments in it.
    LOCALE = "en"
    return (LOCALE,)


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
def control_words(LIST_PATTERN):
    # The server checks every control's value against the control's own range and options
    # (shared/controls.py); a value that does not fit is not used, and the reader is told so.
    from shared import controls as _controls

    _controls.refuse_with(
        {
            "title": "Not used: {label}",
            "range": "Pick a number from {start} to {stop}; the page sent {value}.",
            "steps": "Pick a number from {start} to {stop} in steps of {step}; the page sent {value}.",
            "choices": "Pick one of: {choices}; the page sent {value}.",
            "empty": "Pick a number from {start} to {stop}; the box was empty.",
            "other": "This control cannot take {value}.",
            "kept": "It stays at {kept}.",
            "unlabelled": "a control",
            "list": LIST_PATTERN,
            "busy": "**The server is busy:** {waiting} trainings are waiting already. Try one of the settings the text suggests (they are trained first), or this one again in a minute.",
            "queued": "{ahead} before yours; your other controls answer once it has trained",
        }
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
def s3_4_2(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.4.2 Implementing a compact self-attention Python class

            The same steps for all tokens at once, packed into a PyTorch module. This is the code that
            runs (shown from `shared/attention.py`), and only the chapter's steps: the plots read the
            weights from outside, by watching this `forward` run (`forward_with_weights`).

            """),
            mo.md(printout.source_markdown(attention.SelfAttention_v1, LOCALE)),
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
def v2_intro(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            `nn.Linear` layers do the same multiplication, initialise their weights better for training
            and can add a bias. That version, `SelfAttention_v2`, is the one we build on:

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
    #### Exercise 3.1 · Comparing `SelfAttention_v1` and `SelfAttention_v2`

    Give `sa_v1` the weights of `sa_v2` so that it produces exactly the output of `sa_v2`.
    Hint: `nn.Linear` stores its weight matrix as $(d_\text{out}, d_\text{in})$. Which of
    these four copies does it? Choose one, then press **Check**: the check runs the copy you
    chose on the two modules above.
    """)
    return


@app.cell(hide_code=True)
def exercise_3_1_candidates(LOCALE, exercises, mo, printout):
    _blocks = ["**" + _name + "**\n\n" + printout.source_markdown(_copy, LOCALE) for _name, _copy in exercises.CANDIDATES.items()]
    mo.hstack([mo.vstack([mo.md(_blocks[0]), mo.md(_blocks[1])]), mo.vstack([mo.md(_blocks[2]), mo.md(_blocks[3])])], gap=2)
    return


@app.cell
def exercise_3_1_input(exercises, mo):
    choice_3_1 = mo.ui.radio(options=list(exercises.CANDIDATES), value=None, inline=True, label="The copy that works")
    check_3_1 = mo.ui.run_button(label="Check")
    mo.hstack([choice_3_1, check_3_1], justify="start", align="center")
    return check_3_1, choice_3_1


@app.cell(hide_code=True)
def exercise_3_1_own(mo):
    mo.md(r"""
    *In `marimo edit` or Jupyter you can also write the copy yourself:* fill in `transfer_weights`
    in the next cell and set `answer_3_1 = transfer_weights`; **Check** then tests your function
    instead of the copy chosen above.
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
def exercise_3_1_check(answer_3_1, check_3_1, choice_3_1, exercises, mo):
    mo.stop(not check_3_1.value, mo.md("*Choose a copy (or write your own), then press **Check**.*"))
    _choice = choice_3_1.value
    _check = exercises.check_candidate(_choice) if answer_3_1 is None else exercises.check_weight_transfer(answer_3_1)
    _which = "your `transfer_weights`" if answer_3_1 is not None else f"copy {_choice}"
    _verdict = {
        "todo": mo.callout(mo.md("Nothing to check yet: choose one of the four copies first."), kind="neutral"),
        "invalid": mo.callout(mo.md("That is not one of the four copies: choose A, B, C or D."), kind="danger"),
        "error": mo.callout(mo.md(f"PyTorch refuses {_which}: `{_check.detail.get('error', '')}`."), kind="danger"),
        "wrong": mo.callout(mo.md(f"Not yet: with {_which}, the outputs of `sa_v1` and `sa_v2` still differ by up to {_check.detail.get('max_difference', 0):.4f}."), kind="warn"),
        "correct": mo.callout(mo.md(f"Correct: with {_which}, `sa_v1` computes exactly what `sa_v2` computes."), kind="success"),
    }[_check.status]
    _verdict
    return


@app.cell(hide_code=True)
def exercise_3_1_solution(LOCALE, STATUS_WORDS, exercises, mo, printout):
    _solution = mo.vstack(
        [
            mo.md(printout.source_markdown(exercises.solution_weight_transfer, LOCALE)),
            mo.md(f"Checked here: **{STATUS_WORDS[exercises.check_weight_transfer(exercises.solution_weight_transfer).status]}**."),
        ]
    )
    mo.accordion({"Show a worked solution": _solution})
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
def mask_routes_intro(LOCALE, equivalence, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### Two routes to the same weights

            The book masks in two ways. The first takes the softmax of every score, sets the weights
            of future tokens to 0, and divides each row by its new sum, so that the row adds up to 1
            again. The second sets the future *scores* to $-\infty$ and takes the softmax once. This
            function does both:

            """),
            mo.md(printout.source_markdown(equivalence.mask_routes, LOCALE)),
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
def s3_5_3(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ### 3.5.3 Implementing a compact causal self-attention class

            The class adds three things to `SelfAttention_v2`: it accepts a *batch* of sequences,
            shape $(b, T, d_\text{in})$; it keeps the mask as a buffer (moved along with the module to
            another device, never trained); and it applies dropout to the weights.

            """),
            mo.md(printout.source_markdown(attention.CausalAttention, LOCALE)),
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
def buffer_intro(LOCALE, buffers, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            #### Why the mask is a buffer

            `CausalAttention` keeps its mask with `self.register_buffer("mask", ...)`. What would go
            wrong with a plain attribute, `self.mask = ...`? Here is that version, otherwise the same
            class:
            """),
            mo.md(printout.source_markdown(buffers.CausalAttentionPlainMask, LOCALE)),
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
def buffer_facts(DEVICE_WORDS, attention, batch, buffers, devices, mo, seeded):
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
            mo.md(f"The best device here: **{devices.describe(reader_device, DEVICE_WORDS)}**"),
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
def s3_6(LOCALE, attention, mo, printout):
    mo.vstack(
        [
            mo.md(r"""
            ## 3.6 Extending single-head attention to multi-head attention

            ### 3.6.1 Stacking multiple single-head attention layers

            One head learns one way of relating tokens. Several heads, each with its own $W_q, W_k, W_v$,
            can learn several at once. The most direct version runs $h$ causal heads side by side and
            concatenates their outputs, so the output width is $h \cdot d_\text{out}$:

            """),
            mo.md(printout.source_markdown(attention.MultiHeadAttentionWrapper, LOCALE)),
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

    Keep `num_heads=2`. Which `d_out` makes the wrapper return context vectors of width 2? Type a
    whole number from 1 to 16, then press **Check**: the check builds that wrapper and runs it on
    the batch.
    """)
    return


@app.cell
def exercise_3_2_input(mo):
    answer_3_2 = mo.ui.number(step=1, label="d_out per head")
    check_3_2 = mo.ui.run_button(label="Check")
    mo.hstack([answer_3_2, check_3_2], justify="start", align="end")
    return answer_3_2, check_3_2


@app.cell(hide_code=True)
def exercise_3_2_check(answer_3_2, check_3_2, exercises, mo):
    mo.stop(not check_3_2.value, mo.md("*Type your `d_out`, then press **Check**.*"))
    _check = exercises.check_wrapper_width(answer_3_2.value)
    _detail = _check.detail
    _verdict = {
        "todo": mo.callout(mo.md("Nothing to check yet: type a number first."), kind="neutral"),
        "invalid": mo.callout(mo.md(f"`{_detail.get('argument')}` must be a whole number from {_detail.get('low')} to {_detail.get('high')}; got {_detail.get('value')}. Nothing was built."), kind="danger"),
        "wrong": mo.callout(mo.md(f"Not yet: with `d_out = {_detail.get('d_out')}` the wrapper returns vectors of width {_detail.get('width')}."), kind="warn"),
        "correct": mo.callout(mo.md("Correct: two heads of width 1, concatenated, give 2-dimensional vectors."), kind="success"),
    }[_check.status]
    _verdict
    return


@app.cell(hide_code=True)
def exercise_3_2_solution(exercises, mo):
    mo.accordion(
        {
            "Show a worked solution": mo.md(
                f"Output width = `num_heads * d_out`, so with two heads `d_out = {exercises.SOLUTION_WRAPPER_D_OUT}`: `MultiHeadAttentionWrapper(3, 1, 6, 0.0, num_heads=2)`."
            )
        }
    )
    return


@app.cell(hide_code=True)
def s3_6_2(LOCALE, attention, mo, printout):
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
            mo.md(printout.source_markdown(attention.MultiHeadAttention, LOCALE)),
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
def same_weights_intro(LOCALE, equivalence, mo, printout):
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
            mo.md(printout.source_markdown(equivalence.copy_into_wrapper, LOCALE)),
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
def explorer_intro(mo):
    mo.md(r"""
    #### Explore multi-head attention

    A `MultiHeadAttention(3, 12, 16, p, num_heads=h)` on our sentence (model width 12, so the
    head count must divide 12). Each panel is one head's weight matrix: rows are queries, columns
    are keys, and the outlined row is the query token you pick.

    These weights are fresh: nobody has trained this module. Its inputs have three dimensions and
    `nn.Linear` starts from small random weights, so the scores are small and every softmax stays
    close to an even split over the tokens a query may see. That is why the heads look alike here
    (the lines under the plot measure how much). Heads draw apart only when training gives them
    different jobs: *Watch attention learn*, below, trains this same class. Things to try:

    * more heads: each head works in fewer dimensions, $d_k = 12 / h$;
    * dropout: each head loses different weights, the others are scaled by $1 / (1 - p)$, and the
      row sums $\Sigma$ leave 1;
    * the mask off: every token may attend to the future;
    * the scaling switch: it divides each head's scores by $\sqrt{d_k}$, which is
      $\sqrt{12} \approx 3.46$ with one head and $\sqrt{1} = 1$ with twelve, where it changes nothing.
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
def explorer_caption(causal_mask, explorer, mo, num_heads, scale_by_sqrt_dk, sequence_length):
    # Measured on the weights above (without dropout), so each sentence says what this plot shows.
    _facts = explorer.head_facts(sequence_length.value, num_heads.value, causal=causal_mask.value, scaled=scale_by_sqrt_dk.value)
    _heads = (
        "One head: nothing to compare it with."
        if _facts.largest_head_difference is None
        else f"The {_facts.num_heads} heads look alike: no weight differs by more than {_facts.largest_head_difference:.2f} between two heads."
        if _facts.alike
        else f"The {_facts.num_heads} heads differ: one weight differs by {_facts.largest_head_difference:.2f} between two heads."
    )
    _scaling = (
        f"Each head has $d_k = 12 / {_facts.num_heads} = 1$ dimension and $\\sqrt{{1}} = 1$: the scaling switch changes nothing here."
        if _facts.head_dim == 1
        else f"Each head has $d_k = 12 / {_facts.num_heads} = {_facts.head_dim}$ dimensions, so the switch divides the scores by $\\sqrt{{{_facts.head_dim}}} \\approx {_facts.divisor:.2f}$; flipping it changes no weight by more than {_facts.scaling_change:.2f}."
    )
    mo.md(
        f"{_heads} Every row stays close to an even split over the keys its query may see: its largest weight is at most {_facts.largest_excess:.2f} above that even share. {_scaling}"
    )
    return


@app.cell(hide_code=True)
def exercise_3_3_text(mo):
    mo.md(r"""
    #### Exercise 3.3 · Initialising a GPT-2-sized attention module

    The smallest GPT-2 model has 12 attention heads, 768-dimensional embeddings in and out, and
    a context of 1,024 tokens. Fill in the constructor's four arguments (sizes from 1 to 4,096,
    heads from 1 to 64) and press **Check**: the check builds the module you describe and counts
    its parameters.
    """)
    return


@app.cell
def exercise_3_3_inputs(mo):
    gpt2_d_in = mo.ui.number(step=1, label="d_in")
    gpt2_d_out = mo.ui.number(step=1, label="d_out")
    gpt2_context = mo.ui.number(step=1, label="context_length")
    gpt2_heads = mo.ui.number(step=1, label="num_heads")
    check_3_3 = mo.ui.run_button(label="Check")
    mo.hstack([gpt2_d_in, gpt2_d_out, gpt2_context, gpt2_heads, check_3_3], justify="start", align="end")
    return check_3_3, gpt2_context, gpt2_d_in, gpt2_d_out, gpt2_heads


@app.cell(hide_code=True)
def exercise_3_3_check(check_3_3, exercises, gpt2_context, gpt2_d_in, gpt2_d_out, gpt2_heads, mo):
    mo.stop(not check_3_3.value, mo.md("*Fill in the four values, then press **Check**.*"))
    _check = exercises.check_gpt2_module(gpt2_d_in.value, gpt2_d_out.value, gpt2_context.value, gpt2_heads.value)
    _detail = _check.detail
    _refused = (
        f"`num_heads = {_detail.get('value')}` does not divide `d_out = {_detail.get('d_out')}`: each head gets `d_out / num_heads` dimensions, so that must be a whole number. Nothing was built."
        if "d_out" in _detail
        else f"`{_detail.get('argument')}` must be a whole number from {_detail.get('low')} to {_detail.get('high')}; got {_detail.get('value')}. Nothing was built."
    )
    _verdict = {
        "todo": mo.callout(mo.md("Nothing to check yet: fill in the four values first."), kind="neutral"),
        "invalid": mo.callout(mo.md(_refused), kind="danger"),
        "wrong": mo.callout(mo.md(f"Not GPT-2's size yet: this module has {_detail.get('parameters', 0):,} parameters."), kind="warn"),
        "correct": mo.callout(mo.md(f"Correct: {_detail.get('parameters', 0):,} parameters, {_detail.get('head_dim')} dimensions per head."), kind="success"),
    }[_check.status]
    _verdict
    return


@app.cell(hide_code=True)
def exercise_3_3_solution(mo):
    _solution = mo.md(
        "`MultiHeadAttention(768, 768, 1024, 0.0, num_heads=12)`: three $768 \\times 768$ projections without bias, plus `out_proj` with its bias: $4 \\cdot 768^2 + 768 = 2{,}360{,}064$ parameters. (The GPT-2 checkpoints use `qkv_bias=True`, which adds $3 \\cdot 768$ more.)"
    )
    mo.accordion({"Show a worked solution": _solution})
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
def watch_code(LOCALE, mo, printout, training):
    mo.vstack(
        [
            mo.md(r"""
            Here are the model and the training loop, from `shared/training.py`. The loss is the
            cross-entropy of each offset's prediction, summed over the offsets: guessing scores
            $\ln 8 \approx 2.08$ per offset, and copying without a mistake scores 0. `draws` is the
            run's own stream of random numbers (initial weights, batches, dropout masks), so every
            reader of a shared server gets the same run for the same seed, in any process. Every
            $1/80$ of the run the loop keeps a snapshot: each head's weights in eval mode (dropout
            off) on fixed probe sequences, with the share of right answers per offset. The step
            slider below moves through these snapshots; it does not train again.
            """),
            mo.md(printout.source_markdown(training.CopyModel, LOCALE)),
            mo.md(printout.source_markdown(training.train, LOCALE)),
        ]
    )
    return


@app.cell(hide_code=True)
def watch_try(mo):
    mo.md(r"""
    ### Train it yourself

    Pick a task and a number of heads. A new setting of 400 steps trains in a second or two, with a
    progress bar; the server remembers every setting, so one that anybody trained before comes back
    at once. Drag the step slider from 0: the panels show each head's weights on one probe sequence
    (queries down, keys across), the chart the loss, and the table, for each offset, how often the
    model names it right and what the heads do with it. The verdict says **taken by head $k$** when
    that head puts at least 80 % of its weight on the offset's key, **split between heads** when
    several heads carry it, **blended in one head** when one head carries it together with another
    offset, and **not learned** while fewer than 90 % of the answers are right. Things to try:

    * **Two heads, offsets 1 and 3** (the default). At step 0 every head spreads its weight over
      the earlier tokens. Within the first 100 steps one head takes the key one back (a bright line
      just below the diagonal), the other the key three back (a line two cells lower), and the loss
      falls from the guessing line to almost 0.
    * **One head.** Its weight on a row sums to 1, so it keeps both keys at once, a little more on
      one back than on three back, and passes a blend of two tokens to the read-out. At step 400 the
      loss is still falling: one offset is learned from the blend, the other not yet. Choose 2,000
      steps to see where it gets (the first experiment below asks you to guess first).
    * **Four heads.** Two of them take the two offsets, later than two heads do.
    * **The tokens 1, 2 and 4 back**, two heads and then four. With two heads the loss still falls
      far below guessing: one offset at least is carried in a blend. With four, every offset is
      taken by a head of its own.
    * **Dropout** zeroes random attention weights during training, at times the very weight a head
      needs, so the training loss (light line) stays above the loss with dropout off (dark line).
      With four heads on the previous token, every head ends up on the previous token, with dropout
      or without; dropout makes them sharper.
    * **Causal mask**, **position embeddings** and the task **has this token appeared before?**
      each have an experiment below. **Three heads** cannot split the width 32, and a sequence
      shorter than the task needs has no such position: the app says so. **Another seed** (a whole
      number from 0 to 9999) starts from other weights: other heads take the offsets.
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
            "has this token appeared before?": "seen",
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
def watch_seed_control(mo, training):
    training_seed = mo.ui.number(start=0, stop=training.SEED_BOX_MAX, step=1, value=123, label="Seed (0 to 9999)")
    return (training_seed,)


@app.cell
def watch_steps_control(mo):
    training_steps = mo.ui.dropdown(
        options={"400 (1 to 2 s)": 400, "1,200 (3 to 5 s)": 1200, "2,000 (5 to 8 s)": 2000},
        value="400 (1 to 2 s)",
        label="Training steps (a new setting's time)",
    )
    return (training_steps,)


@app.cell
def watch_causal_control(mo):
    training_causal = mo.ui.switch(value=True, label="Causal mask")
    return (training_causal,)


@app.cell
def watch_positions_control(mo):
    training_positions = mo.ui.switch(value=True, label="Position embeddings")
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
    watch_error = training.setup_error(**watch_settings)  # None when these settings can be trained
    # Each setting trains once per server; the default comes from a file, so opening the notebook trains nothing.
    watch_run = None if watch_error else training.trained(training.Experiment(**watch_settings), title=f"Training {_steps} steps")
    _allowed = printout.join_values(training.head_counts(), LIST_PATTERN)
    _farthest = max((abs(_o) for _o in watch_settings["offsets"] if isinstance(_o, int)), default=0)
    _messages = {
        "num_heads": f"**{_heads} heads cannot share a width of {training.WIDTH}.** `MultiHeadAttention` gives every head the same number of dimensions, so the head count must divide {training.WIDTH}: pick one of {_allowed}.",
        "offsets": f"**A sequence of {_tokens} tokens has no token {_farthest} positions away.** This task needs at least {_farthest + 1} tokens: move the token slider up, or pick another task.",
        "seed": f"**The seed must be a whole number from 0 to {training.SEED_BOX_MAX}.** Type one in the Seed box; 123 is the default.",
    }
    _fallback = "**These settings cannot be trained.** Move a control back to one of its own values."
    mo.callout(mo.md(_messages.get(watch_error.argument, _fallback)), kind="warn") if watch_error else None
    return (watch_run,)


@app.cell
def watch_step_control(mo, training, training_steps):
    training_step = mo.ui.slider(0, training_steps.value, step=training_steps.value // training.SNAPSHOTS, value=0, label="After training step", show_value=True, full_width=True)
    return (training_step,)


@app.cell
def watch_plots(HEAD, WEIGHT_LABELS, attention_heatmaps, charts, mo, training_step, watch_run):
    watch_snapshot = watch_run.at(training_step.value) if watch_run else None  # eval mode, after that many steps
    _names = {"taken": "taken by {heads}", "split": "split between {heads}", "blended": "blended in {heads}", "unlearned": "not learned", "hidden": "hidden by the causal mask"}
    _rows = []
    for _v in watch_run.verdicts(training_step.value) if watch_run else []:
        _target = "earlier copy" if _v.offset == 0 else (f"{_v.offset} back" if _v.offset > 0 else f"{-_v.offset} ahead")
        _heads = " and ".join(f"{HEAD.lower()} {h}" for h in (_v.heads or (_v.head,)))
        _verdict = _names[_v.kind].format(heads=_heads if _v.kind != "taken" else f"{HEAD.lower()} {_v.head}")
        _rows.append(f"| {_target} | {_v.accuracy:.0%} | {HEAD} {_v.head}: {_v.share:.0%} | {_verdict} |")
    _table = mo.md("\n".join(["| token | right | most weight | verdict |", "| :-- | --: | --: | :-- |", *_rows])) if watch_run else None
    _chart = charts.loss_chart(
        watch_run.losses,
        snapshot_steps=[s.step for s in watch_run.snapshots],
        snapshot_losses=[s.loss for s in watch_run.snapshots],
        chance=watch_run.chance,
        step=training_step.value,
        title="Loss",
        width=470,
        height=230,
        xlabel="training step",
        ylabel="loss",
        train_label="training batches (dropout on)",
        eval_label="probe sequences (dropout off)",
        chance_label="guessing",
        marker_label=f"step {watch_snapshot.step}: loss {watch_snapshot.loss:.2f}",
    ) if watch_run else None
    mo.vstack(
        [
            training_step,
            mo.hstack(
                [
                    attention_heatmaps(
                        watch_snapshot.weights,  # (heads, T, T): every head's weights on one probe sequence
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
    #### Four experiments: guess first

    Each experiment below changes one thing and compares two runs, trained with seed 123 (a teacher
    can have them trained before class). Pick what you expect; the runs, and whether you were right,
    appear once you have chosen.
    """)
    return


@app.cell
def watch_outcomes():
    # What each experiment may show: the outcome's key (computed from the run) -> the words a reader picks
    LONGER_OUTCOMES = {
        "stuck": "The loss stays near 1: one head cannot carry two tokens.",
        "blend": "The loss keeps falling: the head keeps a blend of both keys, and the read-out learns to tell the two tokens apart.",
        "take": "The head moves all of its weight to one key, and the other offset is dropped.",
    }
    CAUSAL_OUTCOMES = {
        "copy": "It falls to about 0: every head can now see the next token and copy it.",
        "guess": "It stays on the guessing line: random tokens cannot be predicted.",
    }
    POSITIONS_OUTCOMES = {
        "same": "Nothing changes: the two heads still take the tokens 1 and 3 back.",
        "lost": "The loss stays far above 0: the heads cannot tell which key is three back.",
    }
    CONTENT_OUTCOMES = {
        "content": "A head learns to look for the earlier copy of the token, and the answer is right almost everywhere.",
        "position": "No head helps: heads find keys by position, so the model stays near always giving the commonest answer.",
    }
    return CAUSAL_OUTCOMES, CONTENT_OUTCOMES, LONGER_OUTCOMES, POSITIONS_OUTCOMES


@app.cell
def longer_guess_control(LONGER_OUTCOMES, mo, predict):
    longer_guess = mo.ui.radio(options=predict.options(LONGER_OUTCOMES), label="**1 · Train longer.** One head on offsets 1 and 3, for 2,000 steps instead of 400. What happens?")
    longer_guess
    return (longer_guess,)


@app.cell
def longer_reveal(LONGER_OUTCOMES, charts, longer_guess, mo, predict, training):
    _long = training.trained(training.LONGER, title="Training 2,000 steps") if longer_guess.value else None
    _two = training.trained(training.DEFAULT) if _long else None
    if _long:
        _at = {s: _long.at(s).loss for s in (400, 1200, 2000)}
        _v = _long.verdicts(2000)
        _truth = training.longer_outcome(_long)
        _one_at, _two_at = _long.first_step(0.2), _two.first_step(0.2)
        _reached = f"step {_one_at:,}" if _one_at else "not within 2,000 steps"
        _why = f"Loss at step 400: {_at[400]:.2f}; at 1,200: {_at[1200]:.2f}; at 2,000: {_at[2000]:.2f}. At step 2,000 offset 1 is {_v[0].accuracy:.0%} right and offset 3 {_v[1].accuracy:.0%}, and the head still puts {_v[0].share:.0%} of its weight one back and {_v[1].share:.0%} three back: no key is dropped. A loss of 0.2 is reached at {_reached} with one head, at step {_two_at} with two heads, where each head takes an offset of its own."
        _closing = {
            "blend": "One head gets there slowly, by blending; more heads get there sooner, each head cleanly on one key.",
            "take": "This head gave up the blend: one head has taken an offset, and the other offset lives on in what is left.",
            "stuck": "In 2,000 steps the blend did not get much further: one head is not enough for two keys here.",
        }
        _why = f"{_why} {_closing[_truth]}"
        _said = predict.reveal(longer_guess.value, _truth, outcomes=LONGER_OUTCOMES, right="Right.", wrong="Not quite.", why=_why)
    mo.vstack(
        [
            mo.callout(mo.md(_said), kind=predict.kind(longer_guess.value, _truth)),
            charts.loss_chart(_long.losses, snapshot_steps=[s.step for s in _long.snapshots], snapshot_losses=[s.loss for s in _long.snapshots], chance=_long.chance, step=2000, title="One head, 2,000 steps", width=560, height=220, xlabel="training step", ylabel="loss", train_label="training batches", eval_label="probe sequences", chance_label="guessing"),
        ]
    ) if _long else None
    return


@app.cell
def causal_guess_control(CAUSAL_OUTCOMES, mo, predict):
    causal_guess = mo.ui.radio(
        options=predict.options(CAUSAL_OUTCOMES),
        label="**2 · Causal mask off.** The task is the next token. Clearing the module's mask buffer, `model.attention.mask.zero_()`, unmasks every key. What does the loss do?",
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
        _why = f"With the mask buffer cleared the loss ends at {_off.snapshots[-1].loss:.3f} and the answer is {_v.accuracy:.0%} right: head {_v.head} puts {_v.share:.0%} of its weight on the key one ahead and copies it. With the mask, the same model ends at {_on.snapshots[-1].loss:.2f}, next to the guessing line at {_on.chance:.2f}, and is {_on.verdicts(_on.steps)[0].accuracy:.0%} right. The mask does not stop a model from predicting the next token: it stops it from copying the answer, so copying has to become prediction from earlier tokens. These tokens are random, so nothing earlier predicts the next one; in text, earlier words do, and that is how a GPT is trained, mask on. The switch is one line because the mask is a buffer: state the module carries (saved with it and moved with it by `.to`), not code in its class."
        _said = predict.reveal(causal_guess.value, _truth, outcomes=CAUSAL_OUTCOMES, right="Right.", wrong="Not quite.", why=_why)
    mo.callout(mo.md(_said), kind=predict.kind(causal_guess.value, _truth)) if _off else None
    return


@app.cell
def positions_guess_control(POSITIONS_OUTCOMES, mo, predict):
    positions_guess = mo.ui.radio(
        options=predict.options(POSITIONS_OUTCOMES),
        label="**3 · Position embeddings off.** Two heads, offsets 1 and 3, but the position embeddings are left out. What happens?",
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
        _why = f"Without positions the loss ends at {_off.snapshots[-1].loss:.2f} (with them {_on.snapshots[-1].loss:.2f}; guessing {_off.chance:.2f}). Offset 1 is {_v[0].accuracy:.0%} right and offset 3 {_v[1].accuracy:.0%}; the largest share any head puts on the key one back is {_v[0].share:.0%}, on the key three back {_v[1].share:.0%}. A key then holds only its token, and a token looks the same wherever it stands, so a query cannot ask for the key three back. Position embeddings (chapter 2) are what let a head find a place in the sequence."
        _said = predict.reveal(positions_guess.value, _truth, outcomes=POSITIONS_OUTCOMES, right="Right.", wrong="Not quite.", why=_why)
    mo.callout(mo.md(_said), kind=predict.kind(positions_guess.value, _truth)) if _off else None
    return


@app.cell
def content_guess_control(CONTENT_OUTCOMES, mo, predict):
    content_guess = mo.ui.radio(
        options=predict.options(CONTENT_OUTCOMES),
        label="**4 · A question about content.** At every position: has this token appeared earlier in the sequence? Two heads, sequences of 8 tokens, 1,200 steps. What happens?",
    )
    content_guess
    return (content_guess,)


@app.cell
def content_reveal(CONTENT_OUTCOMES, HEAD, WEIGHT_LABELS, attention_heatmaps, content_guess, mo, predict, training):
    _run = training.trained(training.CONTENT) if content_guess.value else None
    if _run:
        _v = _run.verdicts(_run.steps)[0]
        _truth = training.content_outcome(_run)
        _why = f"The answer is {_v.accuracy:.1%} right, against {_run.majority:.0%} for always giving the commonest answer. Where an earlier copy exists, head {_v.head} puts {_v.share:.0%} of its weight on it. That is 3.4's query matching keys by content: the query of a B scores high against every key that holds a B, wherever it stands. In the panels, look for the bright cells off the diagonal: there the key repeats the query's letter."
        _said = predict.reveal(content_guess.value, _truth, outcomes=CONTENT_OUTCOMES, right="Right.", wrong="Not quite.", why=_why)
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
    **Heads that trained models grow.** Language models trained on text grow heads like these: a
    *previous-token head* attends to the key one back (offset 1 above), and a *duplicate-token head*
    attends to earlier copies of the current token (the content task); both kinds were found in
    GPT-2 (Elhage et al., 2021; Wang et al., 2022). An *induction head* goes one step further: after
    "A B ... A" it predicts B, by finding the earlier A and copying the token after it. A query can
    only match what a key holds, and a key here holds its own token and position; to match "the
    token after an A", the key must first hold its previous token, which a previous-token head in an
    earlier layer writes into it. So induction heads need two attention layers, one after the
    other: chapter 4 stacks them in transformer blocks.
    """)
    return


@app.cell(hide_code=True)
def bonus_text(mo):
    mo.md(r"""
    ## Bonus · Efficient implementations side by side

    Four ways to compute the same causal multi-head attention: the wrapper (3.6.1), the weight
    split (3.6.2), the weight split on PyTorch's fused `scaled_dot_product_attention` kernel
    (`SDPAMultiHeadAttention`), and `torch.nn.MultiheadAttention`. The wrapper has no `out_proj`,
    so that all four do the same work it is timed followed by the weight split's `out_proj`.

    Which one is fastest depends on the machine, the size and the PyTorch version, so we do not tell
    you: press the button and the sentences under the chart report what *your* machine measured.
    Timing takes a few seconds. Times are medians, measured on this machine's GPU when PyTorch finds
    one (NVIDIA's CUDA or Apple's MPS) and on one CPU thread otherwise; the plot's title names the
    device. The repository's `python -m benchmarks.attention_speed` measures more sizes, and both
    the time of a single call and the rate of a queue of calls on a GPU.
    """)
    return


@app.cell
def timing_control(mo):
    timing_button = mo.ui.run_button(label="Time the four implementations")
    timing_button
    return (timing_button,)


@app.cell
def timing_result(DEVICE_WORDS, IMPLEMENTATION_NAMES, charts, devices, mo, timing, timing_button):
    mo.stop(not timing_button.value, mo.md("*Press the button to run the timings.*"))
    _device = devices.pick_device()  # CUDA, then Apple's MPS, else the CPU
    _sizes = {
        "1 × 16 tokens, width 12, 2 heads": timing.compare(1, 16, 12, 2, device=_device),
        "2 × 256 tokens, width 768, 12 heads": timing.compare(2, 256, 768, 12, rounds=5, device=_device),
    }
    _names = {**IMPLEMENTATION_NAMES, "wrapper": IMPLEMENTATION_NAMES["wrapper"] + " + out_proj"}
    _title = f"Forward pass, median time on {devices.describe(_device, DEVICE_WORDS)}"
    _lines = []
    for _size, _medians in _sizes.items():
        _s = timing.standing(_medians)  # fastest, slowest and the ratios, from these medians
        _lines.append(
            f"* **{_size}:** fastest {_names[_s.fastest]} ({_medians[_s.fastest]:.2f} ms), slowest {_names[_s.slowest]} ({_medians[_s.slowest]:.2f} ms). The weight split took {_s.ratios['split/wrapper']:.2f} times the wrapper's time, and SDPA {_s.ratios['sdpa/split']:.2f} times the weight split's."
        )
    timing_figure = charts.timing_chart(_sizes, names=_names, title=_title, xlabel="milliseconds")
    mo.vstack(
        [
            timing_figure,
            mo.md("\n".join(_lines)),
            mo.md("*Medians of a few rounds on a machine that may be busy: press again to see how much they move.*"),
        ]
    )
    return (timing_figure,)


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
      computes the same numbers as stacking separate heads, with one matrix product per projection
      instead of one per head; PyTorch's fused `scaled_dot_product_attention` does the same in one
      kernel. Which is fastest depends on the machine and the size: the bonus timing above measures
      them on yours.
    * Next, chapter 4 puts `MultiHeadAttention` into a transformer block and builds GPT.
    """)
    return


@app.cell(hide_code=True)
def beyond_intro(mo):
    mo.md(r"""
    ## Beyond chapter 3 · The attention in today's LLMs

    Three things every large language model does with the attention of this chapter, each a short step
    from the code above:

    * **A causality lab.** A causal mask can break without any error message. Change one token and
      watch which outputs move.
    * **The KV cache.** A model that writes one token at a time may keep the keys and values of the
      tokens it has already read, because the mask guarantees they never change.
    * **Grouped-query attention (GQA).** Several query heads share one key/value head, and the memory
      the cache needs shrinks with them.
    """)
    return


@app.cell(hide_code=True)
def beyond_modules():
    from shared import causality, gqa, kv_cache, kv_memory

    return causality, gqa, kv_cache, kv_memory


@app.cell(hide_code=True)
def causality_intro(mo):
    mo.md(r"""
    ### A causality lab

    A causal layer computes the output at position $t$ from tokens $1, \dots, t$ only. That gives a
    test anyone can run on any attention code without reading it: feed it a batch, then the same batch
    with one token changed, and compare the outputs position by position. Outputs before the changed
    token must not move at all; the changed position and the ones after it may.

    The lab runs this test on every implementation in this notebook, with shared weights: the
    chapter's `CausalAttention`, the wrapper (3.6.1), `MultiHeadAttention` (3.6.2), the same weights on
    PyTorch's fused `scaled_dot_product_attention` (SDPA) through `SDPAMultiHeadAttention` and called
    directly with `is_causal=True`, SDPA given an explicit boolean mask in either convention, and
    `torch.nn.MultiheadAttention` with the chapter's mask. The two conventions are opposite. In the
    chapter's mask, and in the `attn_mask` of `torch.nn.MultiheadAttention`, `True` marks a score to
    **hide**. In SDPA's `attn_mask`, `True` marks a score to **keep**.
    """)
    return


@app.cell
def causality_controls(mo):
    causality_token = mo.ui.slider(2, 6, value=4, label="Change token", show_value=True)
    causality_guess = mo.ui.radio(
        options={
            "Nothing before the changed token moves: a mask is a mask": "causal",
            "Outputs before the changed token move: the future leaks in": "leaks",
            "PyTorch refuses the mask with an error": "error",
        },
        label="**Predict first.** The chapter's mask, `torch.triu(torch.ones(T, T), diagonal=1).bool()`, goes to SDPA as `attn_mask`. What happens?",
    )
    mo.vstack([causality_guess, causality_token])
    return causality_guess, causality_token


@app.cell
def causality_lab(LIST_PATTERN, causality, causality_guess, causality_token, mo, printout):
    LAB_NAMES = {
        "causal": "CausalAttention (3.5)",
        "wrapper": "MultiHeadAttentionWrapper (3.6.1)",
        "split": "MultiHeadAttention (3.6.2)",
        "sdpa_class": "SDPAMultiHeadAttention",
        "sdpa_is_causal": "SDPA, is_causal=True",
        "sdpa_mask_wrong": "SDPA, attn_mask=mask (the chapter's mask)",
        "sdpa_mask_right": "SDPA, attn_mask=~mask (flipped)",
        "torch": "nn.MultiheadAttention, attn_mask=mask",
    }
    LAB_WORDS = {"implementation": "implementation", "position": "how far each output moved, per position", "verdict": "verdict", "causal": "causal", "leaks": "leaks the future"}
    _changed = causality_token.value
    _guess = causality_guess.value
    causality_reports = None
    if _guess is not None:  # the lab runs once a guess is made
        try:
            causality_reports = causality.lab(changed=_changed - 1)  # positions count from 0 in code
        except (TypeError, ValueError):
            causality_reports = None
    if _guess is None:
        _message = "*Pick an answer above to run the lab.*"
    elif causality_reports is None:
        _message = f"**Token {_changed} is not in the example.** Pick a token from 2 to 6."
    else:
        _wrong, _right = causality_reports["sdpa_mask_wrong"], causality_reports["sdpa_mask_right"]
        _correct = (_guess == "causal") if _wrong.causal else (_guess == "leaks")
        _leaked = printout.join_values((t + 1 for t in _wrong.leaks), LIST_PATTERN)
        _fixed = max(_right.largest_leak, causality_reports["sdpa_is_causal"].largest_leak)
        _opening = "**Right.**" if _correct else "**Not so.**"
        if _wrong.causal:
            _message = f"{_opening} With token {_changed} changed, nothing before it moved, whatever the mask."
        else:
            _message = (
                f"{_opening} PyTorch accepts the mask without a word, and the outputs of tokens {_leaked} moved (by up to {_wrong.largest_leak:.3f}) when token {_changed} changed: they read the future. SDPA keeps the scores where the mask is `True`, and the chapter's mask is `True` above the diagonal, so each token attends to the tokens after it instead of those before. The fix is one character, `attn_mask=~mask`, or no mask at all and `is_causal=True`: in those rows nothing before token {_changed} moved (largest change {_fixed:.1g})."
            )
    mo.vstack([mo.md(_message), causality.movement_table(causality_reports, LAB_NAMES, LAB_WORDS) if causality_reports and _guess else mo.md("")])
    return LAB_WORDS, causality_reports


@app.cell(hide_code=True)
def causality_yours_text(mo):
    mo.md(r"""
    **Your own attention.** In `marimo edit` the cell below is yours: change `my_attention` (drop the
    mask, flip it, swap `masked_fill` for a multiplication by zero before the softmax) and the check
    runs on it at once. It takes a batch of shape (2, 6, 3) and must return one output row per token.
    """)
    return


@app.cell
def causality_yours(LAB_WORDS, LIST_PATTERN, causality, mo, printout, torch):
    def my_attention(x):  # x: (b, T, d_in)
        scores = x @ x.transpose(1, 2)  # (b, T, T)
        future = torch.triu(torch.ones_like(scores, dtype=torch.bool), diagonal=1)  # (b, T, T): True above the diagonal
        scores = scores.masked_fill(future, -torch.inf)
        weights = torch.softmax(scores / x.shape[-1] ** 0.5, dim=-1)  # (b, T, T)
        return weights @ x  # (b, T, d_in)

    try:
        your_report = causality.check(my_attention, d_in=3, changed=3)
    except Exception as _error:  # the reader's own code may raise anything
        your_report = None
        _message = f"**`my_attention` raised an error:** {type(_error).__name__}: {_error}"
    else:
        _leaked = printout.join_values((t + 1 for t in your_report.leaks), LIST_PATTERN)
        _message = (
            "**Causal:** changing token 4 moved nothing before it." if your_report.causal
            else f"**Not causal:** changing token 4 moved the outputs of tokens {_leaked}."
        )
    mo.vstack([mo.md(_message), causality.movement_table({"yours": your_report}, {"yours": "my_attention"}, LAB_WORDS) if your_report else mo.md("")])
    return


@app.cell(hide_code=True)
def kv_intro(mo):
    mo.md(r"""
    ### The KV cache

    A model writes text one token at a time: it runs on the prompt, picks the next token, appends it
    and runs again. Done naively, every step pushes the whole sequence through every layer once more.
    The causal mask makes most of that work a repeat. A token's key and value are projections of that
    token alone, and no earlier token may look at a later one, so the keys and values of the tokens
    already read come out the same at every step. A model may keep them, and at each step compute the
    query, key and value of the new token only. That store is the **KV cache**.

    `KVCacheMultiHeadAttention` is the chapter's `MultiHeadAttention` with two tensors added,
    `cache_k` and `cache_v`, of shape (batch, heads, tokens so far, head_dim). Below it gets the
    chapter's weights (the book's seed 123, `d_out=4`, two heads), a prefill with the first token of
    "Your journey starts with one step", then one more token per step. Attention alone picks no token,
    so here the next token is the sentence's next word; a model would choose it from its output.
    """)
    return


@app.cell(hide_code=True)
def kv_code(LOCALE, attention, mo, printout):
    mo.accordion({"The module with its cache (shared/attention.py)": mo.md(printout.source_markdown(attention.KVCacheMultiHeadAttention, LOCALE))})
    return


@app.cell
def kv_controls(mo):
    kv_guess = mo.ui.radio(
        options={
            "They stay exactly as they were": "same",
            "They change a little: the new token adds context": "change",
        },
        label="**Predict first.** A new token arrives. What happens to the keys already in the cache?",
    )
    kv_step = mo.ui.slider(0, 5, value=5, label="Show the cache up to step", show_value=True)
    mo.vstack([kv_guess, kv_step])
    return kv_guess, kv_step


@app.cell
def kv_steps(TOKENS, kv_cache, kv_guess, kv_step, mo):
    kv_replay = kv_cache.replay(prefill=1, steps=5)  # the chapter's MultiHeadAttention weights, 6 tokens
    _guess, _upto = kv_guess.value, kv_step.value
    _moved, _difference = kv_replay.old_rows_moved, kv_replay.max_difference
    if _guess is None:
        _message = "*Pick an answer above to watch the cache grow.*"
    elif not 0 <= _upto < len(kv_replay.steps):
        _message = f"**There is no step {_upto}.** Pick a step from 0 to {len(kv_replay.steps) - 1}."
    else:
        _opening = "**Right.**" if (_guess == "same") == (_moved == 0) else "**Not so.**"
        _how = "not at all" if _moved == 0 else "they changed"
        _message = (
            f"{_opening} After the prefill and each of the five steps, the rows cached before that step moved by at most {_moved:.1g}: {_how}. The key of a token depends on that token only, so the new one (highlighted) is appended and nothing else is written. The outputs of all six steps, one after the other, differ from the chapter's module run on all six tokens at once by at most {_difference:.1g}: the cache gives the same answer, up to float rounding."
        )
    _show = _guess is not None and 0 <= _upto < len(kv_replay.steps)
    mo.vstack([
        mo.md(_message),
        kv_cache.cache_figure(kv_replay, _upto, TOKENS, {"prefill": "prefill", "step": "step", "head": "head"}) if _show else mo.md(""),
    ])
    return


@app.cell(hide_code=True)
def kv_work_text(mo):
    mo.md(r"""
    **Work per step.** At the step that brings the sequence to $T$ tokens, the layer without a cache
    projects all $T$ tokens ($3 T d_\text{in} d_\text{out}$ multiply-adds), scores and mixes $T \times T$
    pairs ($2 T^2 d_\text{out}$) and applies `out_proj` ($T d_\text{out}^2$). With the cache only the new
    token goes through: $3 d_\text{in} d_\text{out} + 2 T d_\text{out} + d_\text{out}^2$. The table counts
    both for one layer at GPT-2's width (768); the test suite checks the count against PyTorch's own
    (`torch.utils.flop_counter`). The button times whole generations on this machine.
    """)
    return


@app.cell
def kv_work(kv_cache, mo):
    _rows = []
    for _tokens in (16, 256, 1024, 4096):
        _full = kv_cache.multiply_adds(_tokens, 768, 768, cached=False)
        _cached = kv_cache.multiply_adds(_tokens, 768, 768, cached=True)
        _rows.append(f"| {_tokens} | {_full / 1e6:,.1f} M | {_cached / 1e6:,.2f} M | {_full / _cached:,.0f} × |")
    mo.md("\n".join(["| tokens so far | without the cache | with the cache | less work |", "| --: | --: | --: | --: |", *_rows]))
    return


@app.cell
def kv_timing_control(mo):
    kv_timing_button = mo.ui.run_button(label="Time generation with and without the cache")
    kv_timing_button
    return (kv_timing_button,)


@app.cell
def kv_timing(devices, kv_cache, kv_timing_button, mo):
    mo.stop(not kv_timing_button.value, mo.md("*Press the button to time it (a few seconds).*"))
    _device = devices.pick_device()  # CUDA, then Apple's MPS, else the CPU
    _tokens = 128
    _speeds = kv_cache.tokens_per_second(768, 12, _tokens, device=_device)  # one layer, width 768, 12 heads, a one-token prompt
    _ratio = _speeds["cached"] / _speeds["recompute"]
    _how = "as fast" if _ratio >= 1 else "the speed"
    mo.md(
        f"On {devices.describe(_device)}, one attention layer of width 768 with 12 heads generated {_tokens - 1} tokens after a one-token prompt at **{_speeds['cached']:,.0f} tokens/s with the cache** and **{_speeds['recompute']:,.0f} tokens/s without it**: {_ratio:.1f} times {_how}. `python -m benchmarks.kv_cache_speed` measures more lengths."
    )
    return


@app.cell(hide_code=True)
def gqa_intro(mo):
    mo.md(r"""
    ### Grouped-query attention

    The cache keeps a key and a value per head, per token, per layer. Grouped-query attention keeps
    fewer: the $h$ query heads are split into $g$ groups, and all heads of a group read the same key
    and value head. `W_key` and `W_value` shrink from $d_\text{out}$ to $g \cdot d_\text{head}$
    columns, and before the scores each key/value head is repeated for the $h/g$ query heads of its
    group. With $g = h$ it is the chapter's multi-head attention; with $g = 1$ it is multi-query
    attention. Below, the head split of 3.6.2 traced with groups, on the chapter's batch (2 × 6 × 3)
    and `d_out=12`.
    """)
    return


@app.cell
def gqa_heads_control(headsplit, mo):
    gqa_heads = mo.ui.dropdown(options={str(h): h for h in headsplit.HEAD_COUNTS}, value="12", label="Query heads")
    gqa_heads
    return (gqa_heads,)


@app.cell
def gqa_groups_control(gqa, gqa_heads, mo):
    gqa_groups = mo.ui.dropdown(options={str(g): g for g in gqa.group_choices(gqa_heads.value)}, value=str(gqa.default_groups(gqa_heads.value)), label="Key/value groups")
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
        _message = f"**{_groups} groups cannot share {_heads} heads.** The group count must divide the head count."
        _steps = ""
    else:
        _mha = gqa.trace(num_heads=_heads, num_kv_groups=_heads, d_out=12).output  # groups = heads
        _equal = float((_mha - headsplit.split_heads(_heads, 12).reference).abs().max())  # vs the chapter's MultiHeadAttention
        _sharing = "; ".join(
            f"query heads {_members[0]}–{_members[-1]} read key/value head {_k}" if len(_members) > 1 else f"query head {_members[0]} reads key/value head {_k}"
            for _k, _members in enumerate(_traced.groups)
        )
        _steps = "\n".join(["| step (batch b = 2, tokens T = 6) | shape |", "| :-- | :-- |", *(f"| `{_code}` | {_shape} |" for _code, _shape in _traced.steps)])
        _message = (
                f"With {_heads} heads in {_groups} groups, {_sharing}. Each token leaves {_traced.cached_per_token} numbers per layer in the cache (a key and a value of {_traced.head_dim} for each of {_groups} key/value heads), where multi-head attention leaves {2 * 12}: {2 * 12 / _traced.cached_per_token:g} times fewer. The traced steps give the module's own output (largest difference {_traced.max_difference:.1g}), and with as many groups as heads the module gives the chapter's `MultiHeadAttention` output from the same seed (largest difference {_equal:.1g})."
        )
    _words = {"query_heads": "query heads", "kv_heads": "key/value heads", "q": "q", "kv": "kv"}
    mo.vstack([gqa.sharing_figure(_traced, _words) if _traced else mo.md(""), mo.md(_message), mo.md(_steps)])
    return


@app.cell(hide_code=True)
def memory_intro(mo):
    mo.md(r"""
    **How much memory.** Every layer keeps, for every token of the context, a key and a value for each
    key/value head:

    $$\text{bytes} = 2 \times \text{batch} \times \text{layers} \times \text{context} \times n_\text{kv} \times d_\text{head} \times \text{bytes per number}$$

    with $d_\text{head} = \text{width} / h$ and $n_\text{kv} = h$ for multi-head attention, $g$ for
    grouped-query attention and 1 for multi-query attention. The controls start at a model of the size
    the book's bonus material uses (32 layers of width 4096 with 32 heads, a context of 32,768 tokens,
    numbers in bfloat16).
    """)
    return


@app.cell
def memory_controls(kv_memory, mo):
    memory_guess = mo.ui.radio(
        options={
            "About 4 times smaller": "4",
            "The same: all 32 query heads still need keys": "1",
            "About 32 times smaller": "32",
        },
        label="**Predict first.** The 32 heads of that model share 8 key/value heads instead of one each. Its KV cache becomes…",
    )
    memory_layers = mo.ui.number(start=1, stop=200, value=32, label="Layers")
    memory_width = mo.ui.dropdown(options={str(w): w for w in (768, 1024, 2048, 4096, 5120, 8192)}, value="4096", label="Width")
    memory_heads = mo.ui.dropdown(options={str(h): h for h in (8, 16, 32, 64)}, value="32", label="Query heads h")
    memory_groups = mo.ui.dropdown(options={str(g): g for g in (1, 2, 4, 8, 16, 32, 64)}, value="8", label="Key/value groups g")
    memory_context = mo.ui.dropdown(options={str(c): c for c in (1024, 4096, 8192, 32768, 131072)}, value="32768", label="Context (tokens)")
    memory_dtype = mo.ui.dropdown(options={_name: _name for _name in kv_memory.DTYPE_BYTES}, value="bfloat16", label="Numbers in")
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
        _message = (f"**These settings do not fit together.** The heads ({_heads}) must divide the width, the groups ({_groups}) must divide the heads, and every size must be at least 1.")
    else:
        _message = ""
        _book = kv_memory.kv_cache_table(layers=32, context=32768, width=4096, heads=32, groups=8, dtype="bfloat16")
        _shrink = _book["mha"] / _book["gqa"]
        _guess = memory_guess.value
        _head_dim = _width // _heads
        _per = kv_memory.DTYPE_BYTES[_dtype]
        _formula = (
            f"$$2 \\times 1 \\times {_layers} \\times {_context} \\times n_\\text{{kv}} \\times {_head_dim} \\times {_per} = n_\\text{{kv}} \\times {_table['mqa']}\\ \\text{{bytes}}$$"
        )
        _rows = "\n".join([
            f"| multi-head ($n_\\text{{kv}} = {_heads}$) | {_table['mha'] / 1e9:,.2f} GB |",
            f"| grouped-query ($n_\\text{{kv}} = {_groups}$) | {_table['gqa'] / 1e9:,.2f} GB |",
            f"| multi-query ($n_\\text{{kv}} = 1$) | {_table['mqa'] / 1e9:,.3f} GB |",
        ])
        _rows = "| attention | KV cache for one sequence |\n| :-- | --: |\n" + _rows
        _opening = "**Right.**" if _guess == str(round(_shrink)) else "**Not so.**"
        _verdict = "" if _guess is None else (
            f"{_opening} At the book's settings the cache falls from {_book['mha'] / 1e9:.1f} GB to {_book['gqa'] / 1e9:.1f} GB, {_shrink:g} times smaller: the query heads keep their own queries, but only the key/value heads are cached, and there are 8 of them instead of 32."
        )
    mo.vstack([mo.md(_message), mo.md(_formula), mo.md(_rows), mo.md(_verdict)])
    return


@app.cell(hide_code=True)
def memory_check_text(mo):
    mo.md(r"""
    **Checking the formula against real tensors.** Four small layers (width 256, 8 heads) read 256
    tokens on this machine's device: `KVCacheMultiHeadAttention` for multi-head attention, and the key
    and value projections of a grouped-query layer for 2 groups and for 1. The bytes their cached keys
    and values hold are added up, and on an NVIDIA GPU the rise in allocated memory is read too.
    """)
    return


@app.cell
def memory_check_control(mo):
    memory_button = mo.ui.run_button(label="Measure on this machine")
    memory_button
    return (memory_button,)


@app.cell
def memory_check(devices, kv_memory, memory_button, mo):
    mo.stop(not memory_button.value, mo.md("*Press the button to measure (under a second).*"))
    _device = devices.pick_device()  # CUDA, then Apple's MPS, else the CPU
    _rows = []
    for _name, _kv_heads in (("multi-head", 8), ("grouped-query", 2), ("multi-query", 1)):
        _measured = kv_memory.measure(layers=4, context=256, width=256, heads=8, kv_heads=_kv_heads, device=_device)
        _allocated = "—" if _measured.allocated is None else f"{_measured.allocated:,}"
        _same = "yes" if _measured.formula == _measured.tensors else "no"
        _rows.append(f"| {_name} | {_measured.formula:,} | {_measured.tensors:,} | {_allocated} | {_same} |")
    mo.md("\n".join([
        f"On {devices.describe(_device)}:",
        "",
        "| attention | formula (bytes) | cache tensors (bytes) | allocated on the GPU (bytes) | formula = tensors |",
        "| :-- | --: | --: | --: | :-- |",
        *_rows,
    ]))
    return


if __name__ == "__main__":
    app.run()
