"""AtmoDist (weather-analogue variant) in plain torch.nn, written from ../shared/specs/atmodist.md
(`models/atmodist_revised.py` of yu-codes/yu-ml-weather-analogue), for the parity fixtures of wrt-models'
`Atmodist`. No Lightning: only the modules, their registration order and the forward.

Module names and registration order are the reference's, so `state_dict()` keys and order are equal to the
original model's:

    encoder.conv        Conv2d(res_in, out_conv_channels, conv_kernel_size, stride, pad (k - 1) // 2, bias)
    encoder.bn          BatchNorm2d(out_conv_channels)
    encoder.maxpool     MaxPool2d(3, stride, pad 1): registered, no parameters, NOT called in forward
    encoder.resnet.resblocks.{j}   j = s * num_blocks + b for stage s, block b
        .conv1  Conv3x3(Ci, Co, stride 2 if b == 0 else 1, pad 1, no bias)   .bn1  BatchNorm2d(Co)
        .conv2  Conv3x3(Co, Co, stride 1, pad 1, no bias)                    .bn2  BatchNorm2d(Co)
        .shortcut.conv  Conv1x1(Ci, Co, same stride, no bias), only when Ci != Co; otherwise the shortcut is
                        the strided identity x[:, :, ::stride, ::stride] (the reference's
                        F.max_pool2d(x, kernel_size=1, stride=stride), which selects the same elements)
    conv1  Sequential(Conv(stack, ch, k, stride 2, pad (k - 1) // 2, bias), BatchNorm2d(ch), ReLU)
    conv2  Sequential(Conv(ch, ch, k, stride 1, pad (k - 1) // 2, bias), BatchNorm2d(ch), ReLU)
    conv3  same as conv2: registered, NOT called in forward (its weights load, they get no gradient)
    linear Linear(ch * fin_shape^2, num_classes, bias=False)

`downscale = (b == 0)` in every stage, stage 0 included. Stem padding: the spec only states "k8 s2 pad3"; the
reference source computes `padding=(conv_kernel_size - 1) // 2`, which is 3 for k = 8, so that formula is used
here (the head's `math.floor((k - 1) / 2)` is the same formula). BatchNorm is PyTorch's default (eps 1e-5,
momentum 0.1). `drop_flat` (Dropout 0.2) and `loss` have no parameters and are not used by forward, so they are
left out; `flat` is `flatten(1)`.

`downstream_stack_channels=None` means `2 * res_out_channels_list[-1]` (the spec's fix for the seed config,
whose 4 stages end at 128 channels: the revised default of 128 would crash in conv1).
"""
import torch
import torch.nn.functional as F
from torch import nn


class ShortcutDown(nn.Module):
    def __init__(self, in_channels, out_channels, downscale):
        super().__init__()
        self.out_channels = out_channels
        self.stride = 2 if downscale else 1
        # kernel 1 -> padding (1 - 1) // 2 = 0
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=self.stride, padding=0, bias=False) if in_channels != out_channels else None

    def forward(self, x):
        if x.shape[1] == self.out_channels:
            return x[:, :, :: self.stride, :: self.stride]
        return self.conv(x)


class ResBlockDown(nn.Module):
    def __init__(self, in_channels, out_channels, downscale, kernel_size=3):
        super().__init__()
        stride = 2 if downscale else 1
        pad = (kernel_size - 1) // 2
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = ShortcutDown(in_channels, out_channels, downscale)

    def forward(self, x):
        r = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(self.shortcut(x) + r)


class ResNet(nn.Module):
    def __init__(self, in_channels, out_channels_list, num_blocks=6):
        super().__init__()
        self.resblocks = nn.ModuleList()
        for out_channels in out_channels_list:
            for b in range(num_blocks):
                self.resblocks.append(ResBlockDown(in_channels, out_channels, downscale=(b == 0)))
                in_channels = out_channels

    def forward(self, x):
        for blk in self.resblocks:
            x = blk(x)
        return x


class Encoder(nn.Module):
    def __init__(self, in_channels, channel_number_list, out_conv_channels=16, conv_kernel_size=8, maxpool_kernel_size=3, stride=2, num_blocks=6):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_conv_channels, conv_kernel_size, stride=stride, padding=(conv_kernel_size - 1) // 2)
        self.bn = nn.BatchNorm2d(out_conv_channels)
        self.maxpool = nn.MaxPool2d(maxpool_kernel_size, stride=stride, padding=(maxpool_kernel_size - 1) // 2)  # unused
        self.resnet = ResNet(out_conv_channels, channel_number_list, num_blocks=num_blocks)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        # no self.maxpool here: it is commented out in the revised reference
        return self.resnet(x)


def conv_block(in_channels, out_channels, kernel_size, stride):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class Atmodist(nn.Module):
    def __init__(
        self,
        num_classes,
        res_in_channels,
        res_out_channels_list=(16, 32, 64),
        out_conv_channels=16,
        conv_kernel_size=8,
        stride=2,
        num_blocks=6,
        downstream_stack_channels=None,
        downstream_channels=64,
        downstream_kernel_size=3,
        downstream_fin_shape=1,
    ):
        super().__init__()
        res_out_channels_list = list(res_out_channels_list)
        if downstream_stack_channels is None:
            downstream_stack_channels = 2 * res_out_channels_list[-1]
        self.num_classes = num_classes
        self.encoder = Encoder(res_in_channels, res_out_channels_list, out_conv_channels=out_conv_channels, conv_kernel_size=conv_kernel_size, stride=stride, num_blocks=num_blocks)
        self.conv1 = conv_block(downstream_stack_channels, downstream_channels, downstream_kernel_size, 2)
        self.conv2 = conv_block(downstream_channels, downstream_channels, downstream_kernel_size, 1)
        self.conv3 = conv_block(downstream_channels, downstream_channels, downstream_kernel_size, 1)  # unused
        self.linear = nn.Linear(downstream_channels * downstream_fin_shape * downstream_fin_shape, num_classes, bias=False)

    def embed(self, x):
        """The analogue-search embedding: encoder(x) flattened to [B, C * h * w]."""
        return self.encoder(x).flatten(1)

    def forward(self, x1, x2=None):
        """`forward(x1, x2)`, or the reference's `forward((img1, img2))`; returns (atm1, atm2, logits)."""
        if x2 is None:
            x1, x2 = x1
        atm1 = self.encoder(x1)
        atm2 = self.encoder(x2)
        x = torch.cat((atm1, atm2), dim=1)
        x = self.conv2(self.conv1(x))  # conv3 is never called
        return atm1, atm2, self.linear(x.flatten(1))
