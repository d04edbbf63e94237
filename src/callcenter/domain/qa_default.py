"""The QA form shipped with the product, so QA can score calls out of the box (seeded at start when no
form exists; an admin edits or replaces it in ``/admin/qa-forms``)."""

from __future__ import annotations

from typing import Any

DEFAULT_FORM_NAME = "Standard call review"

#: The definition in the API's shape (``POST /api/qa/forms``), validated by ``parse_form_sections``.
DEFAULT_FORM_SECTIONS: list[dict[str, Any]] = [
    {
        "title": "Opening",
        "questions": [
            {
                "id": "greeting",
                "text": "Greeted the caller and gave their name",
                "kind": "yes_no",
                "weight": 1,
            },
            {
                "id": "verify",
                "text": "Verified the caller's identity before discussing the account",
                "kind": "yes_no",
                "weight": 2,
                "instant_fail": True,
            },
        ],
    },
    {
        "title": "Handling",
        "questions": [
            {
                "id": "listen",
                "text": "Listened and understood the need",
                "kind": "scale",
                "weight": 2,
                "max_points": 5,
            },
            {
                "id": "resolve",
                "text": "Resolved the issue or set a clear next step",
                "kind": "scale",
                "weight": 3,
                "max_points": 5,
            },
            {
                "id": "hold",
                "text": "Asked before placing on hold",
                "kind": "yes_no",
                "weight": 1,
                "allow_na": True,
            },
        ],
    },
    {
        "title": "Closing",
        "questions": [
            {"id": "recap", "text": "Summarised what was agreed", "kind": "yes_no", "weight": 1},
            {
                "id": "courtesy",
                "text": "Courteous and professional throughout",
                "kind": "scale",
                "weight": 1,
                "max_points": 5,
            },
        ],
    },
]
