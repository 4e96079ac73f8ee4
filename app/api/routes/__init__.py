"""One router per resource, each an `APIRouter` mounted by `app.api.main.create_app`."""
