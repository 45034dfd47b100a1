"""`python -m services.assessment [serve | migrate | rebuild]`: the service's command line, as its
definition (service.py) declares it."""

from services.assessment.service import SERVICE

raise SystemExit(SERVICE.main())
