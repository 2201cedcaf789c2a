"""Azure Functions entry point: the Durable Functions app and its blueprints.

Kept light on purpose: every module below defers heavy work (azure-identity,
HTTP sessions) to first use, so a cold start pays only for imports.
"""

import azure.durable_functions as df
import azure.functions as func

from activities.azureml import bp as activities
from activities.watcher import bp as watcher_activities
from orchestrators.sweep import bp as orchestrators
from orchestrators.watcher import bp as watcher
from triggers.events import bp as events
from triggers.http.routes import bp as http_routes
from triggers.reconciler import bp as reconciler

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (http_routes, events, reconciler, orchestrators, watcher, activities, watcher_activities):
    app.register_functions(blueprint)
