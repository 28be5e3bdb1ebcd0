"""schemathesis hooks for deploy/test (SCHEMATHESIS_HOOKS=schemathesis_hooks).

positive_data_acceptance, with the answers JSON Schema cannot foresee: a request
valid by openapi.yaml may still be refused by a rule that depends on what came
before it, and only those answers, recognized by status and error code, are
excused. Every other refusal of schema-valid data still fails the run.
"""
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

# (status, error code): each is a documented answer of the operations it comes from.
ANSWERS_OF_STATE = {
    # If-Match names an ETag the collection no longer has (or never had).
    (412, "PRECONDITION_FAILED"),
    # The Idempotency-Key was used before with another body.
    (422, "IDEMPOTENCY_KEY_REUSED"),
}


def error_code(response):
    try:
        return response.json()["error"]["code"]
    except Exception:
        return None


@schemathesis.check
def positive_data_acceptance_but_state(ctx, response, case):
    """positive_data_acceptance, less the answers of ANSWERS_OF_STATE."""
    if (response.status_code, error_code(response)) in ANSWERS_OF_STATE:
        return None
    return positive_data_acceptance(ctx, response, case)
