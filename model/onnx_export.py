"""Compose the fitted preprocessing and the eight gradient-boosted ensembles into one ONNX
graph.

The preprocessing (string imputation, one-hot encoding, numeric imputation) is converted by
skl2onnx. The ensembles are written here as `TreeEnsembleRegressor` nodes with double
thresholds and leaf weights (ai.onnx.ml 3 `*_as_tensor` attributes): skl2onnx 1.20 only emits
float32 leaf weights, and summing 150 float32 leaves drifts up to ~5e-5 days from sklearn's
float64 sum, uncomfortably close to the 1e-4 parity budget. With double weights and a double
copy of the float32 features, every split compares the same numbers sklearn compares and the
only difference left is the final rounding of each output to float32.

All eight ensembles read one shared feature tensor, so a batch is one-hot encoded once.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.compose import add_prefix_graph
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.base import BaseEstimator
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

# onnxruntime-node 1.30 loads both. ai.onnx.ml 3 is the first version with double tree
# attributes and the last in which TreeEnsembleRegressor is not superseded by TreeEnsemble.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
IR_VERSION = 8
FEATURES = "features"
FEATURES_DOUBLE = "features_double"
BATCH_DIM = "N"
FLAT_SHAPE = "flat_shape"


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


def _double_tensor(values: list[float]) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float64))


def _raw_base_score(
    estimator: GradientBoostingRegressor | GradientBoostingClassifier, n_features: int
) -> float:
    """The initial raw score, recovered through public methods: the raw prediction of any row
    minus the trees' contribution for that row."""
    row = np.zeros((1, n_features), dtype=np.float32)
    if isinstance(estimator, GradientBoostingClassifier):
        raw = float(np.asarray(estimator.decision_function(row)).reshape(-1)[0])
    else:
        raw = float(estimator.predict(row)[0])
    trees = sum(float(tree.predict(row)[0]) for (tree,) in estimator.estimators_)
    return raw - estimator.learning_rate * trees


def tree_ensemble_node(
    estimator: GradientBoostingRegressor | GradientBoostingClassifier,
    n_features: int,
    input_name: str,
    output_name: str,
    node_name: str,
) -> onnx.NodeProto:
    """The raw score of a single-output gradient-boosting model (the log-odds of class 1 for a
    binary classifier) as one TreeEnsembleRegressor with double attributes."""
    if isinstance(estimator, GradientBoostingClassifier) and len(estimator.classes_) != 2:
        raise ValueError(f"{node_name}: only binary classifiers are supported")
    nodes: dict[str, list] = {
        key: []
        for key in (
            "treeids",
            "nodeids",
            "featureids",
            "modes",
            "values",
            "truenodeids",
            "falsenodeids",
        )
    }
    targets: dict[str, list] = {key: [] for key in ("treeids", "nodeids", "ids", "weights")}
    for tree_id, (tree_estimator,) in enumerate(estimator.estimators_):
        tree = tree_estimator.tree_
        for node_id in range(tree.node_count):
            is_leaf = tree.children_left[node_id] == -1
            nodes["treeids"].append(tree_id)
            nodes["nodeids"].append(node_id)
            nodes["featureids"].append(0 if is_leaf else int(tree.feature[node_id]))
            nodes["modes"].append("LEAF" if is_leaf else "BRANCH_LEQ")
            nodes["values"].append(0.0 if is_leaf else float(tree.threshold[node_id]))
            # sklearn sends x <= threshold to the left child.
            nodes["truenodeids"].append(0 if is_leaf else int(tree.children_left[node_id]))
            nodes["falsenodeids"].append(0 if is_leaf else int(tree.children_right[node_id]))
            if is_leaf:
                targets["treeids"].append(tree_id)
                targets["nodeids"].append(node_id)
                targets["ids"].append(0)
                targets["weights"].append(
                    estimator.learning_rate * float(tree.value[node_id, 0, 0])
                )
    return helper.make_node(
        "TreeEnsembleRegressor",
        [input_name],
        [output_name],
        name=node_name,
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=nodes["treeids"],
        nodes_nodeids=nodes["nodeids"],
        nodes_featureids=nodes["featureids"],
        nodes_modes=nodes["modes"],
        nodes_values_as_tensor=_double_tensor(nodes["values"]),
        nodes_truenodeids=nodes["truenodeids"],
        nodes_falsenodeids=nodes["falsenodeids"],
        target_treeids=targets["treeids"],
        target_nodeids=targets["nodeids"],
        target_ids=targets["ids"],
        target_weights_as_tensor=_double_tensor(targets["weights"]),
        base_values_as_tensor=_double_tensor([_raw_base_score(estimator, n_features)]),
    )


def build_model(
    preprocessor: BaseEstimator,
    models: dict[str, GradientBoostingRegressor | GradientBoostingClassifier],
    string_fields: tuple[str, ...],
    number_fields: tuple[str, ...],
    n_features: int,
    metadata: dict[str, str],
    doc_string: str,
) -> onnx.ModelProto:
    initial_types = [(f, StringTensorType([None, 1])) for f in string_fields] + [
        (f, FloatTensorType([None, 1])) for f in number_fields
    ]
    pre = convert_sklearn(preprocessor, initial_types=initial_types, target_opset=TARGET_OPSET)
    if len(pre.graph.output) != 1:
        raise RuntimeError(f"preprocessing graph has {len(pre.graph.output)} outputs, expected 1")
    pre_graph = add_prefix_graph(pre.graph, "pre_", rename_inputs=False)
    _rename_tensor(pre_graph, pre_graph.output[0].name, FEATURES)

    nodes = list(pre_graph.node)
    initializers = list(pre_graph.initializer)
    initializers.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), FLAT_SHAPE))
    nodes.append(
        helper.make_node(
            "Cast", [FEATURES], [FEATURES_DOUBLE], to=TensorProto.DOUBLE, name="features_to_double"
        )
    )

    outputs = []
    for name, estimator in models.items():
        raw = f"{name}_raw"
        nodes.append(
            tree_ensemble_node(estimator, n_features, FEATURES_DOUBLE, raw, f"{name}_trees")
        )
        if isinstance(estimator, GradientBoostingClassifier):
            probability = f"{name}_probability"
            nodes.append(helper.make_node("Sigmoid", [raw], [probability], name=f"{name}_sigmoid"))
            raw = probability
        nodes.append(helper.make_node("Reshape", [raw, FLAT_SHAPE], [name], name=f"{name}_flatten"))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [BATCH_DIM]))

    opsets = dict(TARGET_OPSET)
    for opset in pre.opset_import:
        if opset.version > TARGET_OPSET.get(opset.domain, 0):
            raise RuntimeError(f"converter used {opset.domain or 'ai.onnx'} {opset.version}")
        opsets.setdefault(opset.domain, opset.version)

    inputs = [
        helper.make_tensor_value_info(f, TensorProto.STRING, [BATCH_DIM, 1]) for f in string_fields
    ] + [helper.make_tensor_value_info(f, TensorProto.FLOAT, [BATCH_DIM, 1]) for f in number_fields]
    graph = helper.make_graph(nodes, "offer_model", inputs, outputs, initializer=initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        ir_version=IR_VERSION,
        producer_name="realtime-offers-model",
        doc_string=doc_string,
    )
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model, full_check=True)
    return model
