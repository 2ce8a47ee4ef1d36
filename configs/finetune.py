"""Fine-tuning a pretrained model on your images: the recipe for --dataset=folder, tfds:NAME
and any (model, dataset) pair without a recipe of its own.

    python train.py --dataset=folder --data_dir=DIR --init_from=keras_applications
    python train.py --model=v2 --dataset=tfds:oxford_flowers102 --init_from=keras_applications
    python train.py --dataset=folder --data_dir=DIR --init_from=keras_applications \
        --freeze_backbone   # train only the classifier first, as Keras's guide does

Source: torchvision's transfer-learning tutorial ("Finetuning the ConvNet": SGD, momentum 0.9,
lr 0.001 at batch 4, i.e. 0.016 at 64 scaled linearly; we take 0.01 at 64, scaled from there)
and Keras's transfer-learning guide (keras.io/guides/transfer_learning: start from ImageNet
weights, a new classifier, optionally the backbone frozen first); a cosine decay after one
warm-up epoch, label smoothing 0.1 and weight decay 1e-4 (torchvision's classification
reference default) for 20 epochs at 224x224. Depthwise kernels are not decayed, as the
MobileNet papers do.
Expected top-1: depends on the dataset; fine-tuned ImageNet models usually beat training
from scratch by a wide margin on a few thousand images.
Time: minutes to an hour on one GPU for a few thousand images.
"""
from configs import common


def get_config():
    config = common.base(model="mobilenet_v3_small", dataset="folder")
    config.dataset.update(image_size=224)
    config.train.update(batch_size=64, epochs=20, label_smoothing=0.1, weight_decay=1e-4,
                        regularize_depthwise=False, init_from="")
    config.optimizer.update(name="sgd", learning_rate=0.01, base_batch_size=64, momentum=0.9)
    config.schedule.update(name="cosine", warmup_epochs=1.0, min_learning_rate=0.0)
    return config
