"""Write the fitted preprocessing and the eight gradient-boosted ensembles as one small ONNX
graph that a caller feeds with numbers only.

Input: one float32 tensor `features` of shape [N, 9]. Its first seven columns are the string
fields as category codes: the position of the value in that field's vocabulary, which the
model carries in its `metadata_props` (key `input_encoding`), so the caller and the trainer
cannot disagree on it. A missing value is looked up as the imputer's fill value; a value not
in the vocabulary is -1. The last two columns are the numbers, NaN when missing.

Graph: the numeric imputer (training means) on the whole row and a double copy of it; the
outcome of every numeric split the trees make, `number <= threshold` as 0/1, one column per
distinct (field, threshold) pair beside it; then one single-target `TreeEnsembleRegressor` per
prediction, their raw scores side by side, and a `Sigmoid` on the six classifiers' raw scores.
One ensemble per prediction, not one ensemble with eight targets: onnxruntime sums a
multi-target ensemble into a score vector per row, which took a third more instructions per row
(88,900 against 60,700, callgrind, batch 1,000, one thread, onnxruntime 1.30) for the same
trees. Output: one float32 tensor `predictions` of shape [N, 8] whose column names are listed
in the metadata.

The trees are sklearn's own, node for node, and every split is `BRANCH_NEQ`, so onnxruntime
walks them without switching on each node's split mode, which it does for an ensemble that
mixes modes. sklearn trained them on one-hot columns; a split `onehot(field = c) <= 0.5` (go
left unless the value is c) becomes `code(field) != c`, which takes the same branch for every
input, unseen values included (-1 equals no code, as an all-zero one-hot row matched no
column). A numeric split `x <= t` (left when true) becomes `(x <= t) != 0` on its 0/1 column,
compared in the graph in double as sklearn compares float32 features with double thresholds,
after the same imputation. Leaf weights and base scores are doubles, so the sums are sklearn's;
only the final rounding to float32 differs.

Why not the other single mode, `BRANCH_LEQ` everywhere (0/1 indicator columns for the
categories the trees split on, 300 of them): it saves more instructions (44,000 per row
against 60,700) but the trees then read a [N, 302] double matrix instead of [N, 33], and the
cache misses cost more time than the instructions save (CPU per row up by 15 to 40 %).
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

# onnxruntime-node 1.30 loads both. ai.onnx.ml 3 is the first version with double tree
# attributes and the last in which TreeEnsembleRegressor is not superseded by TreeEnsemble.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
IR_VERSION = 8
INPUT = "features"
OUTPUT = "predictions"
BATCH_DIM = "N"
ENCODING_KEY = "input_encoding"
UNKNOWN_CODE = -1

Estimator = GradientBoostingRegressor | GradientBoostingClassifier


class FeatureLayout:
    """Where each one-hot column of the fitted preprocessor lands in the graph's input."""

    def __init__(
        self,
        preprocessor: ColumnTransformer,
        string_fields: tuple[str, ...],
        number_fields: tuple[str, ...],
    ) -> None:
        categorical = preprocessor.named_transformers_["categorical"]
        onehot = categorical.named_steps["onehot"]
        impute = categorical.named_steps["impute"]
        numeric = preprocessor.named_transformers_["numeric"]
        order = [name for name, _, _ in preprocessor.transformers_ if name != "remainder"]
        if order[:2] != ["categorical", "numeric"]:
            raise RuntimeError(f"unexpected transformer order {order}")
        self.string_fields = string_fields
        self.number_fields = number_fields
        self.columns = [*string_fields, *number_fields]
        self.categories = {
            field: [str(value) for value in values]
            for field, values in zip(string_fields, onehot.categories_, strict=True)
        }
        self.fill_value = str(impute.fill_value)
        self.means = [float(value) for value in numeric.statistics_]
        # one-hot column -> (input column, category code) or (input column, None) for numbers
        self.sources: list[tuple[int, int | None]] = []
        for column, field in enumerate(string_fields):
            self.sources.extend((column, code) for code in range(len(self.categories[field])))
        for offset in range(len(number_fields)):
            self.sources.append((len(string_fields) + offset, None))

    @property
    def one_hot_width(self) -> int:
        return len(self.sources)

    def use_split_columns(self, models: dict[str, Estimator]) -> None:
        """Gives each distinct numeric split (one-hot column, threshold) of the trees a 0/1
        column of the trees' input, after the input's own columns, ordered by field then
        threshold."""
        splits = sorted(
            {
                (int(feature), float(threshold))
                for estimator in models.values()
                for (tree_estimator,) in estimator.estimators_
                for feature, threshold in zip(
                    tree_estimator.tree_.feature, tree_estimator.tree_.threshold, strict=True
                )
                if feature >= 0 and self.sources[int(feature)][1] is None
            }
        )
        self.number_splits = [(self.sources[feature][0], threshold) for feature, threshold in splits]
        self.split_columns = {
            split: len(self.columns) + index for index, split in enumerate(splits)
        }

    def encoding_metadata(self, outputs: list[str]) -> str:
        return json.dumps(
            {
                "input": INPUT,
                "columns": self.columns,
                "categories": self.categories,
                "missing_string": "",
                "missing_category": self.fill_value,
                "unknown_code": UNKNOWN_CODE,
                "output": OUTPUT,
                "output_columns": outputs,
            },
            separators=(",", ":"),
        )

    def encode(self, frame) -> np.ndarray:
        """The graph's input for a frame of raw fields ("" and NaN for missing)."""
        rows = len(frame)
        out = np.empty((rows, len(self.columns)), dtype=np.float32)
        for column, field in enumerate(self.string_fields):
            codes = {value: code for code, value in enumerate(self.categories[field])}
            values = frame[field].to_numpy(dtype=object)
            out[:, column] = [
                codes.get(self.fill_value if value == "" else value, UNKNOWN_CODE)
                for value in values
            ]
        for offset, field in enumerate(self.number_fields):
            out[:, len(self.string_fields) + offset] = frame[field].to_numpy(dtype=np.float32)
        return out


def _double_tensor(values: list[float], name: str = "") -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float64), name)


def _raw_base_score(estimator: Estimator, n_features: int) -> float:
    """The initial raw score, recovered through public methods: the raw prediction of any row
    minus the trees' contribution for that row."""
    row = np.zeros((1, n_features), dtype=np.float32)
    if isinstance(estimator, GradientBoostingClassifier):
        raw = float(np.asarray(estimator.decision_function(row)).reshape(-1)[0])
    else:
        raw = float(estimator.predict(row)[0])
    trees = sum(float(tree.predict(row)[0]) for (tree,) in estimator.estimators_)
    return raw - estimator.learning_rate * trees


def ensemble_nodes(
    models: dict[str, Estimator], layout: FeatureLayout
) -> tuple[list[onnx.NodeProto], list[str]]:
    """One single-target TreeEnsembleRegressor per model, each giving that model's raw score
    as an [N, 1] tensor; returns the nodes and their output names in model order."""
    nodes = []
    outputs = []
    for target, (name, estimator) in enumerate(models.items()):
        if isinstance(estimator, GradientBoostingClassifier) and len(estimator.classes_) != 2:
            raise ValueError(f"model {name}: only binary classifiers are supported")
        output = f"raw_score_{target}"
        nodes.append(_ensemble_node(name, estimator, layout, output))
        outputs.append(output)
    return nodes, outputs


def _ensemble_node(
    name: str, estimator: Estimator, layout: FeatureLayout, output: str
) -> onnx.NodeProto:
    attributes: dict[str, list] = {
        key: []
        for key in ("treeids", "nodeids", "featureids", "modes", "values", "truenodeids", "falsenodeids")
    }
    targets: dict[str, list] = {key: [] for key in ("treeids", "nodeids", "weights")}
    for tree_id, (tree_estimator,) in enumerate(estimator.estimators_):
        tree = tree_estimator.tree_
        for node_id in range(tree.node_count):
            attributes["treeids"].append(tree_id)
            attributes["nodeids"].append(node_id)
            if tree.children_left[node_id] == -1:
                attributes["featureids"].append(0)
                attributes["modes"].append("LEAF")
                attributes["values"].append(0.0)
                attributes["truenodeids"].append(0)
                attributes["falsenodeids"].append(0)
                targets["treeids"].append(tree_id)
                targets["nodeids"].append(node_id)
                targets["weights"].append(estimator.learning_rate * float(tree.value[node_id, 0, 0]))
                continue
            feature = int(tree.feature[node_id])
            column, code = layout.sources[feature]
            threshold = float(tree.threshold[node_id])
            attributes["modes"].append("BRANCH_NEQ")
            if code is None:
                # sklearn sends x <= threshold to the left child: (x <= threshold) != 0.
                attributes["featureids"].append(layout.split_columns[(feature, threshold)])
                attributes["values"].append(0.0)
            else:
                if not 0.0 < threshold < 1.0:
                    raise RuntimeError(f"one-hot split at {threshold}, expected within (0, 1)")
                attributes["featureids"].append(column)
                attributes["values"].append(float(code))
            attributes["truenodeids"].append(int(tree.children_left[node_id]))
            attributes["falsenodeids"].append(int(tree.children_right[node_id]))
    return helper.make_node(
        "TreeEnsembleRegressor",
        ["tree_input"],
        [output],
        name=f"ensemble_{name}",
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=attributes["treeids"],
        nodes_nodeids=attributes["nodeids"],
        nodes_featureids=attributes["featureids"],
        nodes_modes=attributes["modes"],
        nodes_values_as_tensor=_double_tensor(attributes["values"]),
        nodes_truenodeids=attributes["truenodeids"],
        nodes_falsenodeids=attributes["falsenodeids"],
        target_treeids=targets["treeids"],
        target_nodeids=targets["nodeids"],
        target_ids=[0] * len(targets["treeids"]),
        target_weights_as_tensor=_double_tensor(targets["weights"]),
        base_values_as_tensor=_double_tensor([_raw_base_score(estimator, layout.one_hot_width)]),
    )


def build_model(
    preprocessor: ColumnTransformer,
    models: dict[str, Estimator],
    string_fields: tuple[str, ...],
    number_fields: tuple[str, ...],
    metadata: dict[str, str],
    doc_string: str,
) -> tuple[onnx.ModelProto, FeatureLayout]:
    layout = FeatureLayout(preprocessor, string_fields, number_fields)
    names = list(models)
    classifiers = [isinstance(models[name], GradientBoostingClassifier) for name in names]
    first_classifier = classifiers.index(True)
    if classifiers != [False] * first_classifier + [True] * (len(names) - first_classifier):
        raise RuntimeError("regressions must come before classifiers")
    width = len(layout.columns)
    # Codes are never NaN; the value imputed in their columns is never used.
    imputed = [0.0] * len(string_fields) + layout.means
    initializers = [
        numpy_helper.from_array(np.array([first_classifier, len(names) - first_classifier]), "split")
    ]
    layout.use_split_columns(models)
    initializers += [
        numpy_helper.from_array(
            np.array([column for column, _ in layout.number_splits], dtype=np.int64), "split_fields"
        ),
        _double_tensor([threshold for _, threshold in layout.number_splits], "split_thresholds"),
    ]
    ensembles, raw_scores = ensemble_nodes(models, layout)
    nodes = [
        helper.make_node(
            "Imputer",
            [INPUT],
            ["features_imputed"],
            name="impute_numbers",
            domain="ai.onnx.ml",
            imputed_value_floats=imputed,
            replaced_value_float=math.nan,
        ),
        helper.make_node(
            "Cast", ["features_imputed"], ["features_double"], to=TensorProto.DOUBLE, name="to_double"
        ),
        helper.make_node(
            "Gather", ["features_double", "split_fields"], ["split_inputs"], axis=1, name="split_inputs"
        ),
        helper.make_node(
            "LessOrEqual", ["split_inputs", "split_thresholds"], ["split_outcomes"], name="split_outcomes"
        ),
        helper.make_node(
            "Cast", ["split_outcomes"], ["split_bits"], to=TensorProto.DOUBLE, name="split_bits"
        ),
        helper.make_node(
            "Concat", ["features_double", "split_bits"], ["tree_input"], axis=1, name="tree_input"
        ),
        *ensembles,
        helper.make_node("Concat", raw_scores, ["raw_scores"], axis=1, name="raw_scores"),
        helper.make_node(
            "Split", ["raw_scores", "split"], ["regressions", "logits"], axis=1, name="split"
        ),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"], name="sigmoid"),
        helper.make_node("Concat", ["regressions", "probabilities"], [OUTPUT], axis=1, name="concat"),
    ]
    graph = helper.make_graph(
        nodes,
        "offer_model",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [BATCH_DIM, width])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [BATCH_DIM, len(names)])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(TARGET_OPSET.items())],
        ir_version=IR_VERSION,
        producer_name="realtime-offers-model",
        doc_string=doc_string,
    )
    helper.set_model_props(model, {**metadata, ENCODING_KEY: layout.encoding_metadata(names)})
    onnx.checker.check_model(model, full_check=True)
    return model, layout
