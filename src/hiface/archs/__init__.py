"""Network architectures in plain PyTorch.

Modules (import the one you need; this package imports nothing heavy by itself):

- ``hiface.archs.hifacegan``      HiFaceGAN generators (paper variant, released LIP-SPADE variant,
  CPU "lite" factory) and the ``HiFaceGANRestorer``
- ``hiface.archs.suppression``    content-adaptive 2x downsamplers: LIP, the paper's pairwise
  module (Eq. 2-3), strided-conv baseline; the multi-scale suppression encoder
- ``hiface.archs.replenishment``  SPADE layer, SPADE residual block, plain residual block
- ``hiface.archs.discriminator``  conditional multi-scale PatchGAN
- ``hiface.archs.mobilenetv2``    torchvision-layout MobileNetV2 (offline ImageNet weights)
- ``hiface.archs.vgg``            torchvision-layout VGG19 feature extractor
- ``hiface.archs.dlib_resnet``    dlib's face-recognition ResNet (FED's network), read from its .dat
"""
