"""The assessment service's FastAPI routers, one module per resource: authorize the path, build a
command, run it, shape the answer. No transaction and no SQL here: reads go through `queries` on
the store's read connection.

Access: admins and assessors write and read the factories and assessments of their country
programmes (the token's `countries`; the headquarters' admin, `"*"`, every country), and another
country's are a 404, as another tenant's; a factory user reads only its own factory and its
completed reports (anything else is a 404), and responds to findings; buyers get 403."""
