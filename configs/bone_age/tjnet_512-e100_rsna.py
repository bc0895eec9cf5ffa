# TJ-Net (Tang, Wu and Shen 2020), the full recipe on RSNA Bone Age: 512 x 512 grey input, Adam lr 1e-3, batch 16,
# 100 epochs (lr / 10 at epochs 60 and 85), joint sex learning, 3 CBAMs, best checkpoint by bone_age/MAD_months.
#   cxrdet train configs/bone_age/tjnet_512-e100_rsna.py --data-root data/rsna-bone-age
#
# Input size: the write-up resized every image to one size without saying which. 512 px: the smallest growth
# plates (distal phalanges, ~1-2 % of the hand's height) keep ~5-10 pixels, block 4 works on a 16 x 16 map
# (stride 32), and batch 16 at 512 px keeps ~3.1 GB of activations for the backward pass (195 MB per image in
# float32, counted on CPU; not run on a GPU here), within the write-up's 11 GB 2080 Ti. Widths and positions of the CBAM
# and IncRes modules are this design's (the write-up shows them only in a figure): see
# cxrdet/models/bone_age/tjnet.py. Fusion = global average pooling of blocks 2-4, concatenated (block 5's input).
#
# Layer table at 1 x 512 x 512 (output shape per image, parameters; tests/models/test_tjnet.py recomputes it):
# block            output             params
# backbone.block1  64 x 128 x 128     20,108
# backbone.block2  128 x 64 x 64     137,260
# backbone.block3  256 x 32 x 32     546,804
# backbone.block4  512 x 16 x 16   2,315,008
# fusion           896                     0
# sex_head         1                 229,889
# age_head         77                323,469
# total            -               3,572,538
#
# block1 = stem (3x3/2 conv 32, 3x3 conv 64, max-pool) + CBAM; block2 = conv 128 + max-pool + IncRes1 + CBAM;
# block3 = 3x3/2 conv 256 + IncRes1 + CBAM; block4 = 3x3/2 conv 512 + IncRes2 + 1x1 conv 512 (Grad-CAM layer);
# sex_head = block 5 (896 -> 256 -> 1); age_head = block 6 (896 -> 256, sex -> 32, 288 -> 256 -> 77).
_base_ = ["./_base_/tjnet.py"]
