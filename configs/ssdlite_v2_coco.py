"""SSDLite on MobileNetV2 at 320x320 on COCO 2017, the V2 paper's detector (section 6.2).

    python train.py --model=ssdlite_v2 --dataset=coco --data_dir=DIR

Source: the TF Object Detection API's ssdlite_mobilenet_v2_coco.config: batch 24, RMSprop
(decay 0.9, momentum 0.9, epsilon 1.0) at 0.004, x0.95 every 800,720 steps (so constant over
its 200k steps), L2 4e-5, batch norm decay 0.9997, SSD random crop and horizontal flip, NMS
IoU 0.6. Its classification loss is a sigmoid with the OD API's hard example miner (3
negatives a positive); ours is SSD's and torchvision's softmax with 3:1 hard negative
mining, the other loss the issue asks for (no class prior then).
Expected: 22.1 COCO mAP (V2 paper, Table 6; the OD API model zoo gives 22); not reproduced
here (no accelerator).
"""
from configs import common

COCO_TRAIN_IMAGES = 118_287


def get_config():
    config = common.base(model="ssdlite_v2", dataset="coco")
    config = common.detection(config, "coco", image_size=320)
    config.model.update(width=1.0, bn_momentum=0.9997, bn_epsilon=1e-3)
    config.detection.update(classification_loss="softmax", crop=True, flip=True,
                            expand=False, photometric=False)
    config.train.update(batch_size=24, steps=200_000, weight_decay=4e-5,
                        checkpoint_every_steps=5_000, log_every_steps=100)
    common.rmsprop(config, learning_rate=0.004, base_batch_size=24, epsilon=1.0)
    return common.exponential_decay(config, decay_rate=0.95,
                                    decay_epochs=800_720 * 24 / COCO_TRAIN_IMAGES)
