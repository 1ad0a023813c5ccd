"""latentkit's attribute predictor: one small CNN that embeds images for the metrics (FID, KID...)
and predicts every labelled attribute (to score samples and fit latent directions).

    net, report = train_feature_net(load_dataset("faces", size=64))   # train.py
    save_feature_net("predictor", net, report)                        # io.py: a weights folder
    net, report = load_feature_net("predictor")
    feats = extract_features(net, images)                             # net.py: (N, feature_dim)
    attrs = predict_attributes(net, images)                           # name -> (N,) in label units
"""

from latentkit.predictor.io import bundle_predictor, load_feature_net, save_feature_net
from latentkit.predictor.net import (
    AttributeSpec,
    FeatureNet,
    extract_features,
    infer_attribute,
    predict_attributes,
    predict_channels,
)
from latentkit.predictor.train import train_feature_net

__all__ = [
    "AttributeSpec",
    "FeatureNet",
    "bundle_predictor",
    "extract_features",
    "infer_attribute",
    "load_feature_net",
    "predict_attributes",
    "predict_channels",
    "save_feature_net",
    "train_feature_net",
]
