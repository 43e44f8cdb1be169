"""Model zoo and model files."""

from .files import (OnnxModel, export_onnx, load_model, model_bytes, model_sha256, open_model, read_spec, save_model,
                    sha256_file)
from .zoo import ARCHS, VECTOR_ARCHS, Classifier, ModelSpec, build_model, count_parameters

__all__ = [
    "ARCHS", "VECTOR_ARCHS", "Classifier", "ModelSpec", "build_model", "count_parameters", "OnnxModel", "export_onnx", "load_model",
    "open_model", "read_spec", "save_model", "sha256_file", "spec_for", "model_bytes", "model_sha256",
]


def spec_for(splits_or_bundle, arch: str, width: float = 1.0) -> ModelSpec:
    """A :class:`ModelSpec` for ``arch`` fitted to a dataset (classes, channels, image size, mean/std; the vector
    length of a text dataset)."""
    d = splits_or_bundle
    if d.test.is_features:
        return ModelSpec(arch=arch, num_classes=d.num_classes, width=width, classes=list(d.test.classes),
                         input_dim=d.input_shape[0])
    return ModelSpec(arch=arch, num_classes=d.num_classes, in_channels=d.channels, image_size=d.image_size,
                     width=width, mean=d.mean, std=d.std, classes=list(d.test.classes))
