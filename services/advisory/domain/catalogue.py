"""The programme's own courses, seeded into the catalogue when the service starts (through its
own `DefineCourse` command, only where a course is missing: what admins changed stays). Titles
and descriptions are our own wording of the courses Better Work's public material names."""

from __future__ import annotations

from services.advisory.domain.course import CourseDetails

_LANGUAGES = ("en", "km", "vi", "bn", "id", "ar", "am", "ur")

SEEDED_COURSES: dict[str, CourseDetails] = {
    code: CourseDetails.model_validate(details)
    for code, details in {
        "SST": {
            "title": "Supervisory Skills Training",
            "description": "Four days for line supervisors: communicating with workers, giving "
            "instructions and feedback, solving problems on the line, and leading a team "
            "with respect.",
            "audience_roles": ["supervisor"],
            "duration_days": 4,
            "languages": _LANGUAGES,
            "topics": ["DIS", "CON", "WT"],
        },
        "HR-INTRO": {
            "title": "Introduction to human resources",
            "description": "Recruitment, contracts, wages and records, discipline and "
            "grievances: the human resources systems national law asks of an employer.",
            "audience_roles": ["manager", "supervisor"],
            "duration_days": 2,
            "languages": _LANGUAGES,
            "topics": ["CON", "COM", "WT", "DIS"],
        },
        "NEGOTIATION": {
            "title": "Negotiation skills",
            "description": "Preparing, conducting and closing a negotiation between workers' "
            "representatives and management.",
            "audience_roles": ["committee_member", "manager", "worker"],
            "duration_days": 2,
            "languages": _LANGUAGES,
            "topics": ["FOA"],
        },
        "WRR": {
            "title": "Workers' rights and responsibilities",
            "description": "What the law and the core labour standards give workers, and what "
            "they ask of them, in one day for workers and their representatives.",
            "audience_roles": ["worker", "committee_member"],
            "duration_days": 1,
            "languages": _LANGUAGES,
            "topics": ["CHL", "DIS", "FOR", "FOA", "COM", "CON", "WT"],
        },
        "OSH": {
            "title": "Occupational safety and health",
            "description": "Hazards, chemicals, machine guarding, emergency preparedness and the "
            "safety committee's work.",
            "audience_roles": ["committee_member", "supervisor", "manager", "worker"],
            "duration_days": 2,
            "languages": _LANGUAGES,
            "topics": ["OSH"],
        },
        "PICC": {
            "title": "Committee training",
            "description": "For the bipartite worker-management committee: its role, running "
            "meetings, and owning the factory's improvement plan.",
            "audience_roles": ["committee_member"],
            "duration_days": 2,
            "languages": _LANGUAGES,
            "topics": ["FOA", "OSH"],
        },
    }.items()
}
