"""Network architectures in plain PyTorch: pure ``nn.Module``s, nothing about files, devices or
pipelines (the restorer wrappers are :mod:`hiface.restorers`).

Modules (import the one you need; this package imports nothing heavy by itself):

- ``hiface.archs.suppression``    content-adaptive 2x downsamplers: LIP, the paper's pairwise
  module (Eq. 2-3), strided-conv baseline; the multi-scale suppression encoder (§3.2)
- ``hiface.archs.replenishment``  SPADE layer, SPADE residual block, plain residual block (§3.3)
- ``hiface.archs.hifacegan``      HiFaceGAN generators (paper variant, released LIP-SPADE variant,
  CPU "lite" factory)
- ``hiface.archs.discriminator``  conditional multi-scale PatchGAN
- ``hiface.archs.gfpgan``, ``hiface.archs.stylegan2``  GFP-GAN v1 clean (U-Net + StyleGAN2 prior, SFT)
- ``hiface.archs.codeformer``, ``hiface.archs.vqgan``  CodeFormer (VQGAN codebook + transformer)
- ``hiface.archs.gfrnet``         GFRNet (WarpNet + RecNet, guided restoration)
- ``hiface.archs.retinaface``     RetinaFace MobileNet-0.25 face detector network
- ``hiface.archs.mobilenetv2``    torchvision-layout MobileNetV2 (offline ImageNet weights)
- ``hiface.archs.vgg``            torchvision-layout VGG19 feature extractor
- ``hiface.archs.dlib_resnet``    dlib's face-recognition ResNet (FED's network), read from its .dat
"""
