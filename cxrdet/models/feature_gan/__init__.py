"""Feature-level GAN for class imbalance: extractor CNN, generator, discriminator, classifier (issue 11).

Step 1: :class:`GanFeatureExtractor` + :class:`FeatureGanHead` in an ``ImageClassifier`` (the write-up's extractor
table). Step 2: :class:`FeatureGAN` (:class:`FeatureGenerator`, :class:`FeatureDiscriminator`, the classifier of
rows 16-23) with its :class:`FeatureGanOptimWrapperConstructor` and :class:`FeatureStatsHook`. Importing this
package registers them.
"""

from cxrdet.models.feature_gan.discriminator import FeatureDiscriminator
from cxrdet.models.feature_gan.extractor import GanFeatureExtractor
from cxrdet.models.feature_gan.feature_gan import FeatureGAN
from cxrdet.models.feature_gan.generator import FeatureGenerator
from cxrdet.models.feature_gan.head import FeatureGanHead
from cxrdet.models.feature_gan.optim_constructor import FeatureGanOptimWrapperConstructor
from cxrdet.models.feature_gan.stats_hook import FeatureStatsHook

__all__ = [
    "FeatureDiscriminator",
    "FeatureGAN",
    "FeatureGanHead",
    "FeatureGanOptimWrapperConstructor",
    "FeatureGenerator",
    "FeatureStatsHook",
    "GanFeatureExtractor",
]
