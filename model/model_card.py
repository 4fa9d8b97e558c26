"""Render MODEL_CARD.md from the facts of one training run."""

from __future__ import annotations

from dataclasses import dataclass

from generate_data import generating_rules_markdown

# Held-out figures of the Spark pipeline this model replaces, for orientation only: that
# model was trained on real data, this one on synthetic data.
ORIGINAL_METRICS = {
    "predicted_cost": "RMSE 6.17",
    "predicted_subscription": "RMSE 12.40",
    "predicted_function_map": "AUC 0.869",
    "predicted_function_ignore_sound": "AUC 0.812",
    "predicted_function_listen_sound": "AUC 0.948",
    "predicted_function_detailed_routes": "AUC 0.908",
    "predicted_function_sos_signal": "AUC 0.897",
    "predicted_function_invite_second_parent": "AUC 0.879",
}

OUTPUT_MEANING = {
    "predicted_cost": "expected total payments, USD (regression)",
    "predicted_subscription": "expected subscription length, days (regression)",
    "predicted_function_map": "P(uses saved places on the map)",
    "predicted_function_ignore_sound": "P(uses ignore silent mode)",
    "predicted_function_listen_sound": "P(uses listen to the sound around the child)",
    "predicted_function_detailed_routes": "P(uses detailed route history)",
    "predicted_function_sos_signal": "P(uses the SOS signal)",
    "predicted_function_invite_second_parent": "P(invites a second parent)",
}

INPUT_MEANING = {
    "ip_country": "country of the registration IP, ISO 3166-1 alpha-2, lower case",
    "device_country": "country set on the device, ISO 3166-1 alpha-2, lower case",
    "device_language": "device language, ISO 639-1, lower case",
    "platform": "`Android`, `iOS`, `HarmonyOS`",
    "platform_store": "store the app came from, e.g. `Google Play`, `App Store`",
    "smartphone_brand": "parent's phone maker, lower case, e.g. `samsung`, `iphone`",
    "child_smartphone_brand": "child's device maker (phone or watch), lower case",
    "is_organic": "1 if the install was not from paid acquisition, else 0",
    "child_age": "child's age in years",
}


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A table laid out the way Prettier lays it out, so `prettier --check` accepts the card
    as written."""
    widths = [max(3, len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


@dataclass(frozen=True)
class CardFacts:
    model_version: str
    rows: int
    train_rows: int
    test_rows: int
    data_sha256: str
    cardinalities: dict[str, int]
    null_rates: dict[str, float]
    one_hot_width: int
    tree_params: dict[str, object]
    split_seed: int
    tree_seed: int
    metrics: dict[str, dict[str, float]]
    parity: dict[str, dict[str, float]]
    golden_count: int
    library_versions: dict[str, str]
    opsets: dict[str, int]
    string_fields: tuple[str, ...]
    number_fields: tuple[str, ...]
    regression_outputs: tuple[str, ...]
    classification_outputs: tuple[str, ...]
    tolerance: float


def render_model_card(f: CardFacts) -> str:
    columns = (*f.string_fields, *f.number_fields)
    inputs = markdown_table(
        ["Column", "Field", "Value", "Missing", "Meaning"],
        [
            [str(i), f"`{n}`", "category code", "code of `Unknown`", INPUT_MEANING[n]]
            for i, n in enumerate(f.string_fields)
        ]
        + [
            [str(len(f.string_fields) + i), f"`{n}`", "the number", "`NaN`", INPUT_MEANING[n]]
            for i, n in enumerate(f.number_fields)
        ],
    )
    outputs = markdown_table(
        ["Column", "Name", "Meaning"],
        [
            [str(i), f"`{n}`", OUTPUT_MEANING[n]]
            for i, n in enumerate((*f.regression_outputs, *f.classification_outputs))
        ],
    )
    regressions = markdown_table(
        ["Regression", "RMSE", "Baseline RMSE", "Improvement", "Original (real data)"],
        [
            [
                f"`{n}`",
                f"{f.metrics[n]['rmse']:.3f}",
                f"{f.metrics[n]['baseline_rmse']:.3f}",
                f"{f.metrics[n]['rmse_gain']:.1%}",
                ORIGINAL_METRICS[n],
            ]
            for n in f.regression_outputs
        ],
    )
    classifications = markdown_table(
        ["Classifier", "ROC AUC", "Positive rate", "Original (real data)"],
        [
            [
                f"`{n}`",
                f"{f.metrics[n]['roc_auc']:.4f}",
                f"{f.metrics[n]['positive_rate']:.3f}",
                ORIGINAL_METRICS[n],
            ]
            for n in f.classification_outputs
        ],
    )
    parity = markdown_table(
        ["Output", "Held-out rows", "Golden fixtures"],
        [
            [f"`{n}`", f"{f.parity['held_out'][n]:.2e}", f"{f.parity['golden'][n]:.2e}"]
            for n in (*f.regression_outputs, *f.classification_outputs)
        ],
    )
    data = markdown_table(
        ["Field", "Distinct values (without null)", "Null rate"],
        [
            [f"`{n}`", str(f.cardinalities[n]), f"{f.null_rates[n]:.1%}"]
            for n in (*f.string_fields, *f.number_fields)
        ],
    )
    params = ", ".join(f"`{k}={v}`" for k, v in f.tree_params.items())
    versions = ", ".join(f"{k} {v}" for k, v in f.library_versions.items())
    opsets = ", ".join(f"`{k or 'ai.onnx'}` {v}" for k, v in sorted(f.opsets.items()))
    summary = markdown_table(
        ["Fact", "Value"],
        [
            ["Version", f"`{f.model_version}`"],
            ["Artifact", "`model/offer_model.onnx` (preprocessing and all eight models)"],
            ["Version in the artifact", "ONNX `metadata_props`, key `model_version`"],
            ["Opsets", f"{opsets}; IR version 8 (loads in onnxruntime-node 1.30)"],
            ["Trained with", versions],
            ["Training data", f"{f.rows} synthetic rows, sha256 `{f.data_sha256[:16]}…`"],
        ],
    )
    return f"""# Offer model

<!-- Written by model/train.py; edit the generator, not this file. -->

{summary}

The version is `1.0.0+` followed by the first 12 hex digits of the SHA-256 of the training CSV
and the training parameters, so any change to the data or the parameters changes it.

## What it predicts

For each registration, eight numbers that the offer service stores in ClickHouse and Redis:
two regressions and six probabilities that the user will use a paid feature at least once.
It replaces the Spark ML pipeline of the original streaming job and keeps its outputs.

## Input

One float32 tensor `features` of shape [N, {len(columns)}], one row per registration:

{inputs}

**Category codes.** A string field is fed as its position in that field's vocabulary. The
vocabularies travel inside the model: `metadata_props` key `input_encoding` holds a JSON
object with the column order (`columns`), the vocabulary of each string field
(`categories`), the category a missing string stands for (`missing_category`: `Unknown`,
what training filled in; the literal string `Unknown` is therefore the same category), the
code of a value training never saw (`unknown_code`: -1, including different letter case, e.g.
`Samsung`), and the output's column names. The TypeScript scorer builds its encoder from that
key alone, so trainer and scorer cannot disagree on a code.

**Training ranges.** `metadata_props` key `input_ranges` holds each number field's smallest
and largest value in the training rows, e.g. `{{"child_age":{{"min":1.0,"max":17.0}},...}}`. The
service counts values outside them (`offers_model_input_out_of_range_total{{field}}`); a model
without the key counts none.

**Missing numbers** are `NaN`; the graph replaces them by the training mean. Ages outside
1–17 fall into the nearest trained range.

## Output

One float32 tensor `predictions` of shape [N, 8]; probabilities are the probability of
class 1.

{outputs}

## Model

- Preprocessing (fitted on the training split): per string field
  `SimpleImputer(missing_values="", fill_value="Unknown")` then
  `OneHotEncoder(handle_unknown="ignore")`; per numeric field `SimpleImputer(mean)`;
  {f.one_hot_width} features in all. No scaling: trees split on order alone, and unscaled
  integer ages and 0/1 indicators are exact in float32.
- Eight scikit-learn gradient-boosted tree models on those features:
  `GradientBoostingRegressor` for the regressions (squared error) and
  `GradientBoostingClassifier` (log loss) for the flags, each with
  {params}, `random_state={f.tree_seed}`.
- Export (`model/onnx_export.py`): `Imputer` (training means) on the input, a double copy of
  it, the outcome of each distinct numeric split of the trees (`number <= threshold`, compared
  in double as sklearn compares them) as a 0/1 column beside it, then one single-target
  `TreeEnsembleRegressor` per model, node for node, with double leaf weights (one ensemble
  with eight targets cost onnxruntime a third more instructions per row), and a `Sigmoid` on
  the six classifiers' raw scores. Every split is `BRANCH_NEQ`, so onnxruntime walks the
  trees without switching on each node's split mode: sklearn split the one-hot column of
  category c at 0.5 (left unless the value is c), the graph splits the category code with
  `!= c`, which takes the same branch for every input, unseen values included; a numeric
  split goes left when its 0/1 column `!= 0`. ONNX and sklearn take the same path through
  every tree; only the final rounding to float32 differs.

## Training data

Synthetic: the original 7,492-row table is not public. `model/generate_data.py` draws
{f.rows} registrations with the same fields, category counts close to the original one-hot
widths (ip_country 102, device_country 90, device_language 44, platform 3, platform_store 7,
smartphone_brand 48, child_smartphone_brand 80) and the original null rates.

Observed in the generated data:

{data}

### Generating rules

{generating_rules_markdown()}
## Held-out metrics

Split: {f.train_rows} training rows, {f.test_rows} held-out rows (20 %,
`random_state={f.split_seed}`). The baseline predicts the training mean for every row.
Required: RMSE at least 30 % below the baseline and ROC AUC at least 0.80; `train.py` fails
otherwise.

{regressions}

{classifications}

## Parity between scikit-learn and ONNX

Largest absolute difference between sklearn's float64 predictions and onnxruntime's outputs
(the build fails above {f.tolerance:g}):

{parity}

`model/golden.json` holds {f.golden_count} registrations (typical rows drawn from the same
generator with another seed, plus nulls in every field, categories never seen in training,
ages 0, 1, 7.5, 17, 18, 99 and is_organic 0/1/null) with the predictions sklearn gives for
them. The TypeScript scorer's unit test checks that it reproduces all of them within
{f.tolerance:g}.

## Retraining

```sh
bash model/build.sh        # or: make model
```

The script creates `model/.venv` if missing, installs the pinned `model/requirements.txt`,
generates `model/data/registrations.csv` (not committed), trains, checks the metric bars,
exports `model/offer_model.onnx`, checks parity, and writes `model/golden.json`,
`model/metrics.json` and this card. All randomness is seeded and the trees are trained
single-threaded, so two runs give identical metrics, version and artifact bytes.

## Limitations

- Trained on synthetic data; the metrics show that the pipeline learns what the generator
  put in, not how real users behave.
- Categories are case-sensitive; decoding should pass the producer's values through as they
  are (lower-case codes, `Android`/`iOS` platforms).
"""
