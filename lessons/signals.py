"""`progress_changed`: a learner's progress just changed.

Sent by lessons.progress after every change it records, once the change is
saved (never from inside its transaction):

- a step, challenge or exercise was checked (its state, attempts, reason),
  or had a hint or its solution revealed;
- a quiz answer was graded (the lesson's quiz score).

Keyword arguments (besides `sender`, lessons.models.Progress or QuizAnswer):
`user` (the learner), `kind` ("step", "challenge", "exercise" or "quiz"),
`lesson` (the lesson's slug; "" for an exercise), `number` (the 1-based
step or challenge, the exercise's id, None for a quiz) and `progress`: the
item's progress as `lessons.progress` shows it (state, attempts, reason,
hints_revealed, solution_revealed, checked_at, done_at), or for a quiz its
score (`{"correct": n, "questions": m}`).

Receivers run in the thread that recorded the change (often a worker
thread of an evaluation) and must be quick; an exception in one is logged,
never passed on to the learner (the change is saved already).
"""

from django.dispatch import Signal

progress_changed = Signal()
