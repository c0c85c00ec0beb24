"""The click protocol: simulate an annotator prompting step by step, under one policy.

Step 0 is the start (`Settings.start`): a positive click at the ground-truth "centre" (the
pixel farthest from its boundary), or the ground truth's bounding box, plain or jittered
as SAM-Med2D does, kept in every later prompt. Each later step adds one click chosen by
the policy (`policies.POLICIES`) and labelled by the ground truth. No pixel is ever
clicked twice. After every step the fields of `fields.FIELDS` are recorded (Dice and IoU
of the proposed mask, max EIG before the click, …); per image NoC@85/90/95 on IoU and the
Dice AUC.

  settings.py   Settings: every knob, its help, its checks
  fields.py     the per-step fields, declared once (device trace, record, JSON, report)
  record.py     Record: one image's sequence on the host, and its JSON
  policies.py   the policy registry: where each runs and how it chooses
  steps.py      one image's steps (start, begin, advance, oracle_click in two halves:
                oracle_dice, oracle_choice; sequence)
  compiled.py   the compile cache, sharding, the Oracle's chunk rule
  runner.py     run, run_batch: batches in lockstep over a device mesh
"""

from eigjax.assess import Problem
from eigjax.protocol.compiled import (
    COMPILED,
    CPU_CHUNK,
    chunk_for_memory,
    free_programs,
    oracle_chunk,
)
from eigjax.protocol.fields import FIELDS, NO_CLICK, StepField, Trace
from eigjax.protocol.policies import POLICIES, Policy
from eigjax.protocol.record import Record
from eigjax.protocol.runner import (
    Batch,
    advance_batch,
    begin_batch,
    click_capacity,
    embed_batch,
    run,
    run_batch,
    search_batch,
    sequence_batch,
)
from eigjax.protocol.settings import Settings
from eigjax.protocol.steps import (
    ClickState,
    OracleSearch,
    Progress,
    Start,
    advance,
    begin,
    grid_points,
    oracle_choice,
    oracle_click,
    oracle_dice,
    start,
)

__all__ = [
    "COMPILED",
    "CPU_CHUNK",
    "FIELDS",
    "NO_CLICK",
    "POLICIES",
    "Batch",
    "ClickState",
    "OracleSearch",
    "Policy",
    "Problem",
    "Progress",
    "Record",
    "Settings",
    "Start",
    "StepField",
    "Trace",
    "advance",
    "advance_batch",
    "begin",
    "begin_batch",
    "chunk_for_memory",
    "click_capacity",
    "embed_batch",
    "free_programs",
    "grid_points",
    "oracle_choice",
    "oracle_chunk",
    "oracle_click",
    "oracle_dice",
    "run",
    "run_batch",
    "search_batch",
    "sequence_batch",
    "start",
]
