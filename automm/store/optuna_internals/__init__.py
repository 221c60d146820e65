"""The one door to Optuna's private API (``study._storage``, ``trial._trial_id``, ``study._study_id``, its
database models and sessions): every use of those in automm goes through this package, so an Optuna
upgrade that changes them is fixed here alone.

- `access`: a study's and a trial's storage handles, and single reads and writes of system attributes;
- `batched_writes`: several values of a running trial written in one transaction (`writes_held`,
  the ``*_together`` writers);
- `cached_reads`: a trial's repeated reads of finished trials answered from Optuna's cache;
- `trial_reads`: a database storage that reads trials in fewer statements (`TrialReadingRDBStorage`).
"""

from automm.store.optuna_internals.access import (
    TrialsView,
    fail_running,
    frozen,
    is_enqueued,
    remember_system_attr,
    set_frozen_trial_system_attr,
    set_study_system_attr,
    set_trial_system_attr,
    storage_of,
    study_id,
    study_system_attr,
    study_system_attrs,
    study_system_attrs_starting,
    trial_id,
    trial_system_attrs,
    written_system_attr,
)
from automm.store.optuna_internals.batched_writes import (
    artifact_listing,
    report_together,
    set_attrs_together,
    set_frozen_trial_system_attrs,
    set_study_system_attrs_together,
    set_user_attrs_together,
    suggest_together,
    writes_held,
)
from automm.store.optuna_internals.cached_reads import finished_trials_read_once
from automm.store.optuna_internals.trial_reads import TrialReadingRDBStorage

__all__ = [
    "TrialReadingRDBStorage",
    "TrialsView",
    "artifact_listing",
    "fail_running",
    "finished_trials_read_once",
    "frozen",
    "is_enqueued",
    "remember_system_attr",
    "report_together",
    "set_attrs_together",
    "set_frozen_trial_system_attr",
    "set_frozen_trial_system_attrs",
    "set_study_system_attr",
    "set_study_system_attrs_together",
    "set_trial_system_attr",
    "set_user_attrs_together",
    "storage_of",
    "study_id",
    "study_system_attr",
    "study_system_attrs",
    "study_system_attrs_starting",
    "suggest_together",
    "trial_id",
    "trial_system_attrs",
    "writes_held",
    "written_system_attr",
]
