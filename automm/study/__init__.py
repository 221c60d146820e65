"""`automm.Study`: create, resume and run an Optuna study over fusion architectures, with the settings
it stores about itself and checks a resumed study against."""

from automm.study.study import Study

__all__ = ["Study"]
