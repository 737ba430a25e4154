"""The classrooms pages: trainers' (classes, dashboard, editor) and learners' (join, exercises)."""
