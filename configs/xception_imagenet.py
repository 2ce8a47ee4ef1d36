"""Xception on ImageNet: the paper's recipe.

    python train.py --model=xception --dataset=imagenet --data_dir=DIR

Source: Chollet, arXiv:1610.02357: section 4.2 (SGD, momentum 0.9, learning rate 0.045
decayed x0.94 every 2 epochs, the configuration tuned for Inception V3; Polyak averaging at
inference), section 4.3 (weight decay 1e-5; dropout 0.5 before the classifier; no auxiliary
tower), section 4.4 (60 NVIDIA K80 GPUs, synchronous data parallelism, about 3 days), 299x299.
The paper states neither batch size nor epochs: 100 epochs as in the Inception V3 paper
(arXiv:1512.00567, section 8), whose configuration section 4.2 reuses; 0.045 taken for batch
256 and scaled linearly from there. The averaging decay is not stated: 0.9999, TF's Inception
training default (tensorflow/models inception/inception_model.py MOVING_AVERAGE_DECAY).
Expected: 79.0% top-1, 94.5% top-5 (Table 1).
Time: about 3 days on 60 K80 GPUs (section 4.4).
Not applied: Inception-style colour distortion (ours: 8-100% area crops and flips).
"""
from configs import common


def get_config():
    config = common.imagenet(common.base(model="xception", dataset="imagenet"), image_size=299)
    config.model.dropout = 0.5
    config.train.update(batch_size=256, epochs=100, weight_decay=1e-5, ema_decay=0.9999)
    config.optimizer.update(name="sgd", learning_rate=0.045, base_batch_size=256, momentum=0.9,
                            nesterov=False)
    return common.exponential_decay(config, decay_rate=0.94, decay_epochs=2)
