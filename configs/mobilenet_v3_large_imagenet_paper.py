"""MobileNetV3-Large 1.0 on ImageNet: the paper's own recipe (section 6.1).

    python train.py --config=configs/mobilenet_v3_large_imagenet_paper.py --data_dir=DIR

Source: Howard et al., arXiv:1905.02244, section 6.1: a 4x4 TPU Pod, synchronous, RMSProp with
momentum 0.9 (and TensorFlow's default decay 0.9), learning rate 0.1 at batch 4096 (128 per
chip), decayed by 0.01 (x0.99) every 3 epochs, dropout keep probability 0.8 (rate 0.2), L2
weight decay 1e-5, Inception preprocessing, weight EMA 0.9999, batch norm average decay 0.99.
Unstated values: RMSprop epsilon 0.001 (build_optimizer in the same team's TPU code,
tensorflow/tpu models/official/efficientnet/utils.py); no weight decay on depthwise kernels
(tensorflow/models research/slim/nets/mobilenet/mobilenet.py training_scope); no warm-up and
no label smoothing (none mentioned); 1000 epochs (not stated: Model Garden's V3-Small recipe
with the same x0.99 per 3 epochs trains 1000, ending near 3.5% of the initial rate).
Expected: 75.2% top-1 (Table 3, V3-Large 1.0).
Time: not given; a 4x4 TPU Pod (32 chips).
Not applied: slim's Inception colour distortion (ours: 8-100% area crops and flips).
"""
from configs import common


def get_config():
    return common.mobilenet_v3_paper(common.base(model="mobilenet_v3_large", dataset="imagenet"))
