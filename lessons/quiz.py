"""Grading quiz answers: pure functions, no request or database involved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lessons.loader import Lesson, Question


class QuizInputError(ValueError):
    """A submitted answer or question number cannot be graded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Feedback:
    question: int
    choice: int
    correct: bool
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "choice": self.choice,
            "correct": self.correct,
            "explanation": self.explanation,
        }


def _parse_int(raw: Any, what: str) -> int:
    if isinstance(raw, bool):
        raise QuizInputError(f"{what} must be a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.isascii() and text.lstrip("-").isdigit() and len(text) <= 6:
            return int(text)
    if raw is None or raw == "":
        raise QuizInputError(f"{what} is missing")
    raise QuizInputError(f"{what} must be a whole number")


def question_for(lesson: Lesson, raw_number: Any) -> tuple[int, Question]:
    """The 1-based question `raw_number` of `lesson`, checked."""
    if not lesson.quiz:
        raise QuizInputError("this lesson has no quiz")
    number = _parse_int(raw_number, "the question number")
    if not 1 <= number <= len(lesson.quiz):
        raise QuizInputError(
            f"there is no question {number}: this quiz has questions 1 to {len(lesson.quiz)}"
        )
    return number, lesson.quiz[number - 1]


def grade(question: Question, raw_choice: Any, number: int = 1) -> Feedback:
    """Grade one answer; `raw_choice` is the chosen option's 0-based index as sent."""
    choice = _parse_int(raw_choice, "the answer")
    if not 0 <= choice < len(question.options):
        raise QuizInputError(
            f"the answer must be an option number from 0 to {len(question.options) - 1}"
        )
    return Feedback(
        question=number,
        choice=choice,
        correct=choice == question.answer,
        explanation=question.explain,
    )
