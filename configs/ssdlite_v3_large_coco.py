"""SSDLite on MobileNetV3-Large (halved last stage) at 320x320 on COCO 2017.

    python train.py --model=ssdlite_v3_large --dataset=coco --data_dir=DIR
    python evaluate.py --model_dir=runs/RUN      # COCO AP with pycocotools

Source: the TF Object Detection API's ssdlite_mobilenet_v3_large_320x320_coco.config
(research/object_detection/samples/configs), the V3 paper's detection setting (section 6.3):
batch 512 (32 synchronised replicas), momentum 0.9, cosine decay from 0.4 over 400k steps
after 2,000 warm-up steps (theirs start at 0.133, ours at 0), sigmoid focal loss alpha 0.75
gamma 2 with class biases at -4.6, smooth L1 boxes, both normalised by the matches, L2 4e-5
on every conv, batch norm decay 0.97, SSD random crop and horizontal flip only, NMS IoU 0.6
with 100 detections. 400k steps of 512 on COCO train2017 (117,266 images with boxes after
the OD API's filtering; 118,287 here) is about 1,730 epochs.
Expected: 22.0 COCO mAP (V3 paper, Table 6, "V3-Large dagger"; the OD API model zoo gives
22.6); not reproduced here (no accelerator), days on a TPU v3-32 pod slice.
"""
from configs import common

COCO_TRAIN_IMAGES = 118_287
WARMUP_STEPS = 2_000


def get_config():
    config = common.base(model="ssdlite_v3_large", dataset="coco")
    config = common.detection(config, "coco", image_size=320)
    config.model.update(width=1.0, bn_momentum=0.97, bn_epsilon=1e-3)
    config.detection.update(crop=True, flip=True, expand=False, photometric=False)
    config.train.update(batch_size=512, steps=400_000, weight_decay=4e-5,
                        checkpoint_every_steps=5_000, log_every_steps=100)
    config.optimizer.update(name="sgd", learning_rate=0.4, base_batch_size=512, momentum=0.9)
    config.schedule.update(name="cosine",
                           warmup_epochs=WARMUP_STEPS * 512 / COCO_TRAIN_IMAGES)
    return config
