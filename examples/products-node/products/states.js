"use strict";
// The provider's own state-change handlers, called the way Pact's verifiers
// call a provider-states endpoint: POST {"state", "params", "action"}.

const HANDLERS = {
  "products exist": (repo) => repo.reset(),
  "no products exist": (repo) => repo.clear(),
  "product with ID exists": (repo, params) => {
    const id = requiredId(params);
    repo.put({
      id,
      type: params.type || "CREDIT_CARD",
      name: params.name || `Product ${id}`,
      version: params.version || "v1",
    });
  },
  "product with ID does not exist": (repo, params) => repo.remove(requiredId(params)),
};

function requiredId(params) {
  if (!params || params.id === undefined || params.id === null || params.id === "") {
    throw new StateError("this state needs the parameter id");
  }
  return String(params.id);
}

class StateError extends Error {}

// Applies one state change; a teardown restores the seed so no state leaks
// into the next interaction. Throws StateError for an unknown state or a
// missing parameter: the verifier must see the setup fail, not a wrong state.
function changeState(repo, body) {
  if (!body || typeof body.state !== "string" || body.state === "") {
    throw new StateError("the body must name a state");
  }
  const action = body.action || "setup";
  if (action === "teardown") {
    repo.reset();
    return;
  }
  if (action !== "setup") {
    throw new StateError(`unknown action ${JSON.stringify(action)}`);
  }
  const handler = HANDLERS[body.state];
  if (!handler) {
    throw new StateError(`unknown provider state ${JSON.stringify(body.state)}`);
  }
  handler(repo, body.params || {});
}

module.exports = { changeState, StateError, STATES: Object.keys(HANDLERS) };
