"""The advisory and training service: courses, training sessions and attendance, outcome surveys
and advisory visits, the programme's work with factories between assessments."""
