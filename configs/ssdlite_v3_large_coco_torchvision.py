"""SSDLite on MobileNetV3-Large at 320x320 on COCO 2017 with torchvision's recipe.

    python train.py --config=configs/ssdlite_v3_large_coco_torchvision.py --data_dir=DIR

Source: torchvision's references/detection README, ssdlite320_mobilenet_v3_large: 8 GPUs x
24 images (batch 192), SGD momentum 0.9, cosine annealing from 0.15 over 660 epochs, weight
decay 4e-5 (torch's, the gradient of our TF-slim wd * sum(w^2) / 2), the "ssdlite"
augmentation (SSD random IoU crop and flip), softmax with 3:1 hard negative mining. Its
anchors differ from ours (6 boxes on the first map too) and its BN momentum is 0.03 (0.97
here).
Expected: 21.3 COCO mAP (torchvision's model card); not reproduced here (no accelerator).
"""
from configs import ssdlite_v3_large_coco


def get_config():
    config = ssdlite_v3_large_coco.get_config()
    config.detection.update(classification_loss="softmax")
    config.train.update(batch_size=192, steps=0, epochs=660)
    config.optimizer.update(name="sgd", learning_rate=0.15, base_batch_size=192, momentum=0.9)
    config.schedule.update(name="cosine", warmup_epochs=0.0)
    return config
