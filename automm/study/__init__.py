"""`automm.Study`: create, resume and run an Optuna study over fusion architectures, with the settings
it stores about itself and checks a resumed study against; `automm.FusionClassifier`, the same search and
delivery as a scikit-learn estimator."""

from automm.study.estimator import FusionClassifier
from automm.study.study import Study

__all__ = ["FusionClassifier", "Study"]
