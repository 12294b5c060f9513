"""The wire names Daeploy's parts agree on: API coordinates, labels, annotations, paths, env.

The SDK, the CLI, the operator and the tests import these rather than spell the strings, so a
rename is one edit here. The YAML in crds/, charts/ and services/ and README.md hold the same
values as wire format; tests/test_contract_single_source.py keeps both in line. Constants only:
the SDK imports this module, so it must not pull in Kubernetes or anything else.
"""

from __future__ import annotations

# The DaeployService custom resource (crds/daeployservices.yaml).
API_GROUP = "daeploy.io"  # API group of the CRD
API_VERSION = "v1alpha1"  # the one served and stored version
API_GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"  # apiVersion of DaeployService objects
KIND = "DaeployService"  # kind of the objects, one per service version
PLURAL = "daeployservices"  # REST resource name
CRD_NAME = f"{PLURAL}.{API_GROUP}"  # metadata.name of the CRD

# Who writes what.
OPERATOR_NAME = "daeploy-operator"  # the operator: its chart, Deployment and Event component
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"  # which tool manages an object
MANAGED_BY_OPERATOR = OPERATOR_NAME  # on the operator's children; it only watches those
MANAGED_BY_CLI = "daeploy-cli"  # on the DaeployService objects the CLI creates
FIELD_MANAGER = OPERATOR_NAME  # the operator's server-side apply field manager
# The CLI's server-side apply field managers: MANAGED_BY_CLI's value for the specs and source
# ConfigMaps it applies, and this one for spec.main alone (assign, deploy --main).
CLI_MAIN_FIELD_MANAGER = f"{MANAGED_BY_CLI}-main"
# And this one for spec.weight and spec.shadow (assign --weight, --shadow/--no-shadow).
CLI_TRAFFIC_FIELD_MANAGER = f"{MANAGED_BY_CLI}-traffic"

# Labels on every child (pods included); notify() puts the same keys on its Events.
SERVICE_LABEL = "daeploy.io/service"  # label_value() of the service name
VERSION_LABEL = "daeploy.io/version"  # label_value() of the version

# Annotations.
HOST_ANNOTATION = "daeploy.io/host"  # on a namespace: the Ingress host of its services
ROUTE_CLAIM_ANNOTATION = "daeploy.io/route-claimed-at"  # on an Ingress: first deploy of the name
SEVERITY_ANNOTATION = "daeploy.io/severity"  # on a notify() Event: INFO, WARNING or CRITICAL
EMAILS_ANNOTATION = "daeploy.io/emails"  # on a notify() Event: comma-separated recipients
DASHBOARD_ANNOTATION = "daeploy.io/dashboard"  # "false": notify(dashboard=False), kept off it
# On the per-name Service: JSON {"main": v, "weights": {v: percent}, "shadows": [v, ...]}, how
# /services/<name> shares its traffic; call_service reads it to split and mirror the same way.
TRAFFIC_ANNOTATION = "daeploy.io/traffic"

# The Events notify() posts on the service's DaeployService.
EVENT_REASON = "Notification"  # what `daeploy notifications` selects on

# Condition reasons on a DaeployService's status that the CLI acts on. Permanent ones will not
# resolve by waiting: a person must change the spec or the cluster.
NOT_OWNED_REASON = "NotOwned"  # a child's name is taken by an object no DaeployService owns
CHILD_REFUSED_REASON = "ChildRefused"  # the API server refused a child built from the spec
DUPLICATE_VERSION_REASON = "DuplicateVersion"  # another object deploys the same name and version
ROUTE_HELD_REASON = "RouteHeldByOtherNamespace"  # the shared host is another namespace's
RECONCILE_FAILED_REASON = "ReconcileFailed"  # transient: the operator retries
ROLLOUT_REASON = "RolloutInProgress"  # transient: pods of an older spec still run
# The image would run as root (or as a user name the kubelet cannot check): set spec.runAsUser.
RUN_AS_USER_NEEDED_REASON = "RunAsUserNeeded"
PERMANENT_REASONS = frozenset(
    {
        NOT_OWNED_REASON,
        CHILD_REFUSED_REASON,
        DUPLICATE_VERSION_REASON,
        ROUTE_HELD_REASON,
        RUN_AS_USER_NEEDED_REASON,
        # the kubelet's and the Deployment controller's words, passed on by the operator
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "ProgressDeadlineExceeded",
    }
)

# Identities. Each service name's pods run as their own ServiceAccount (see
# daeploy.names.service_account_name), so a callee knows which service calls it; the events Role
# lets all of them post notify() Events, nothing else.
SERVICE_ACCOUNT_PREFIX = "daeploy-"  # + the name's Service name: the per-name ServiceAccount
EVENTS_ROLE = "daeploy-service-events"  # Role and RoleBinding in every namespace with services
# Per namespace, for people and scripts: `daeploy token` asks for tokens of these accounts.
CALLER_ACCOUNT = "daeploy-caller"  # ServiceAccount, Role and RoleBinding: call every service
ADMIN_ACCOUNT = "daeploy-admin"  # ... and change every service's parameters
CALLERS_ROLE_SUFFIX = "-callers"  # per-name Role and RoleBinding: spec.callers may call it
PEERS_ROLE = "daeploy-peers"  # Role and RoleBinding: services without spec.callers, for all peers
ACCESS_MIDDLEWARE = "daeploy-access"  # per-namespace Traefik Middleware: forwardAuth to the gate
TRAEFIK_API_VERSION = "traefik.io/v1alpha1"  # Traefik's own CRDs, the Middleware among them

# Access control (daeploy/access): what a Role grants, as its `resources:` entries spell it, on
# DaeployServices in the service's namespace, `resourceNames:` the service name. The
# SubjectAccessReview asks for the part after the slash as the subresource.
INVOKE_RESOURCE = f"{PLURAL}/invoke"  # verb create: call the service's entrypoints
PARAMETERS_RESOURCE = f"{PLURAL}/parameters"  # verb update: change its parameters
# Token audiences: a token for this one is accepted by every service (of its namespace, by
# RBAC); one for f"{TOKEN_AUDIENCE}/{namespace}/{name}" by that service alone. The API server's
# own audience is accepted too (a pod's or a user's token), nothing else.
TOKEN_AUDIENCE = API_GROUP
# The gate: the one place tokens are reviewed. Traefik's forwardAuth (or nginx's auth-url) asks
# GATE_INGRESS_PATH + "/<namespace>"; a service's own app asks GATE_REVIEW_PATH for calls that
# did not come through the ingress.
GATE_NAME = "daeploy-gate"  # its Deployment, Service and ServiceAccount (release namespace)
GATE_INGRESS_PATH = "/ingress"
GATE_REVIEW_PATH = "/review"
CALL_TOKEN_DIR = "/var/run/secrets/daeploy.io/serviceaccount"  # projected TOKEN_AUDIENCE token

# HTTP paths a service answers on.
ROUTE_PREFIX = "/services"  # ingress routes: <prefix>/<name> and <prefix>/<name>_<version>
MONITOR_PATH = "/~monitor"  # stored values: JSON; /csv a zip of CSVs; /db the SQLite file
METRICS_PATH = "/~metrics"  # Prometheus' text format
HEALTH_PREFIX = "/~health/"  # the probes' paths: open without a token, left out of access logs
LIVE_PATH = "/~health/live"  # liveness probe
READY_PATH = "/~health/ready"  # readiness probe
# /docs (Swagger UI) and /redoc load their scripts, styles and icon from here, below the
# service's own prefix: served by the service itself, so the pages work without internet.
DOCS_ASSETS_PATH = "/~docs"

# Folder deploys.
SOURCE_ARCHIVE_KEY = "source.tar.gz"  # ConfigMap key of the packed folder (CLI writes, pod reads)

# Environment variables; all Daeploy's own start with the prefix, which users may not set.
ENV_PREFIX = "DAEPLOY_"

# Set by the operator on every service pod; the CRD refuses them in spec.env.
SERVICE_NAME_ENV = "DAEPLOY_SERVICE_NAME"  # the service name
SERVICE_VERSION_ENV = "DAEPLOY_SERVICE_VERSION"  # its version
NAMESPACE_ENV = "DAEPLOY_NAMESPACE"  # the pod's namespace
RESOURCE_NAME_ENV = "DAEPLOY_RESOURCE_NAME"  # the owning DaeployService's name
RESOURCE_UID_ENV = "DAEPLOY_RESOURCE_UID"  # and its uid, for Events
PORT_ENV = "DAEPLOY_PORT"  # port the app listens on
SOURCE_ARCHIVE_ENV = "DAEPLOY_SOURCE_ARCHIVE"  # folder deploys: the mounted archive
ACCESS_URL_ENV = "DAEPLOY_ACCESS_URL"  # the gate's base URL; unset: access control is off
PUBLIC_ENV = "DAEPLOY_PUBLIC"  # "true": entrypoints and docs open to all, parameter writes not
CALL_TOKEN_FILE_ENV = "DAEPLOY_CALL_TOKEN_FILE"  # call_service sends this token as Bearer
RESERVED_ENV = (
    SERVICE_NAME_ENV,
    SERVICE_VERSION_ENV,
    NAMESPACE_ENV,
    RESOURCE_NAME_ENV,
    RESOURCE_UID_ENV,
    PORT_ENV,
    SOURCE_ARCHIVE_ENV,
    ACCESS_URL_ENV,
    PUBLIC_ENV,
    CALL_TOKEN_FILE_ENV,
)

# Read by the SDK (and the runtime image), set by users or tests.
SERVICE_URLS_ENV = "DAEPLOY_SERVICE_URLS"  # JSON map of service addresses, outside a cluster
GATEWAY_URL_ENV = "DAEPLOY_GATEWAY_URL"  # base URL of the ingress, outside a cluster
CALL_TIMEOUT_ENV = "DAEPLOY_CALL_TIMEOUT"  # call_service: answer wait
CALL_CONNECT_TIMEOUT_ENV = "DAEPLOY_CALL_CONNECT_TIMEOUT"  # call_service: connect wait
CALL_RETRIES_ENV = "DAEPLOY_CALL_RETRIES"  # call_service: retries of refused connections
CALL_CONNECTION_MAX_AGE_ENV = "DAEPLOY_CALL_CONNECTION_MAX_AGE"  # call_service: pool renewal
CALL_TRAFFIC_SECONDS_ENV = "DAEPLOY_CALL_TRAFFIC_SECONDS"  # call_service: traffic table reuse
SHUTDOWN_DELAY_ENV = "DAEPLOY_SHUTDOWN_DELAY"  # seconds to keep serving after SIGTERM
GRACEFUL_TIMEOUT_ENV = "DAEPLOY_GRACEFUL_TIMEOUT"  # seconds open requests may take to finish
WORKDIR_ENV = "DAEPLOY_WORKDIR"  # runtime: where a folder deploy is extracted
LEGACY_NAME_ENV = "daeploy.name"  # 1.x: the service's name (daeploy.utilities reads it second)
LEGACY_VERSION_ENV = "daeploy.version"  # 1.x: its version
MONITOR_DB_ENV = "DAEPLOY_MONITOR_DB"  # the monitoring store's SQLite file (the operator sets it)
MONITOR_DB_FILE = "/tmp/daeploy/monitor.db"  # where: on the pod's /tmp volume, unless spec.env says
# spec.persistence: the version's PersistentVolumeClaim is mounted here, and the store goes on it.
PERSISTENT_DATA_DIR = "/var/lib/daeploy"
PERSISTENT_MONITOR_DB_FILE = f"{PERSISTENT_DATA_DIR}/monitor.db"
DB_TABLE_LIMIT_ENV = "DAEPLOY_SERVICE_DB_TABLE_LIMIT"  # 1.x: rows or age kept per variable
DB_CLEAN_INTERVAL_ENV = "DAEPLOY_SERVICE_DB_CLEAN_INTERVAL"  # 1.x: how often old rows go
TERMINATION_LOG_ENV = "DAEPLOY_TERMINATION_LOG"  # runtime: where its last words go

# Set or read by the CLI.
SOURCE_DIGEST_ENV = "DAEPLOY_SOURCE_DIGEST"  # in spec.env: a changed folder rolls the pods
DEBUG_ENV = "DAEPLOY_DEBUG"  # 1: show tracebacks
REGISTRY_ENV = "DAEPLOY_REGISTRY"  # HOST[/PATH] folder deploys push their images to
BASE_IMAGE_ENV = "DAEPLOY_BASE_IMAGE"  # the image a folder's image is built on
CACHE_ENV = "DAEPLOY_CACHE"  # where built layers are kept; default ~/.cache/daeploy
BUILT_IMAGE_ANNOTATION = f"{API_GROUP}/built-image"  # repo:tag the CLI built; kill removes it

# The runtime image as the project builds it; in a registry (``<registry>/daeploy-runtime:...``,
# the local cluster pushes it there) it is the base of every folder's image.
RUNTIME_IMAGE = "localhost/daeploy-runtime:0.1.0"
# A cluster's own registry, as kind and the local cluster announce it (KEP-1755).
LOCAL_REGISTRY_NAMESPACE = "kube-public"
LOCAL_REGISTRY_CONFIG_MAP = "local-registry-hosting"
LOCAL_REGISTRY_KEY = "localRegistryHosting.v1"

# The gate's settings, set by the Helm chart (charts/daeploy-operator/templates/gate.yaml).
GATE_AUDIENCES_ENV = "DAEPLOY_GATE_AUDIENCES"  # comma-separated token audiences besides the API's
GATE_CACHE_SECONDS_ENV = "DAEPLOY_GATE_CACHE_SECONDS"  # how long a decision is reused
GATE_PORT_ENV = "DAEPLOY_GATE_PORT"  # where the gate listens (its Go cache listens in front)

# Operator settings, set by the Helm chart (charts/daeploy-operator/templates/deployment.yaml).
INGRESS_CLASS_ENV = "DAEPLOY_INGRESS_CLASS"  # IngressClass of the Ingresses it creates
INGRESS_HOST_ENV = "DAEPLOY_INGRESS_HOST"  # default Ingress host; empty: any host
NAMESPACE_HOSTS_ENV = "DAEPLOY_NAMESPACE_HOSTS"  # JSON map of namespace to Ingress host
NAMESPACE_DOMAIN_ENV = "DAEPLOY_NAMESPACE_DOMAIN"  # every namespace also at <namespace>.<domain>
WATCH_NAMESPACES_ENV = "DAEPLOY_WATCH_NAMESPACES"  # comma-separated; empty: all namespaces
RUNTIME_IMAGE_ENV = "DAEPLOY_RUNTIME_IMAGE"  # the image that runs folder deploys
RESYNC_SECONDS_ENV = "DAEPLOY_RESYNC_SECONDS"  # period of the safety-net resync
WATCH_SERVER_TIMEOUT_ENV = "DAEPLOY_WATCH_SERVER_TIMEOUT"  # watch timeoutSeconds, whole seconds
WATCH_CLIENT_TIMEOUT_ENV = "DAEPLOY_WATCH_CLIENT_TIMEOUT"  # client side; above the server's
LIVENESS_ENDPOINT_ENV = "DAEPLOY_LIVENESS_ENDPOINT"  # where kopf answers the liveness probe
ACCESS_GATE_URL_ENV = "DAEPLOY_ACCESS_GATE_URL"  # the gate's base URL; empty: access control off
ACCESS_INGRESS_GATE_URL_ENV = "DAEPLOY_ACCESS_INGRESS_GATE_URL"  # the ingress's; default the same
ACCESS_INGRESS_ANNOTATIONS_ENV = "DAEPLOY_ACCESS_INGRESS_ANNOTATIONS"  # JSON, {namespace}, {gate}
ACCESS_TRAEFIK_MIDDLEWARE_ENV = "DAEPLOY_ACCESS_TRAEFIK_MIDDLEWARE"  # "true": one per namespace
ACCESS_TRAEFIK_PLUGIN_ENV = "DAEPLOY_ACCESS_TRAEFIK_PLUGIN"  # its plugin's name; empty: forwardAuth
TRAFFIC_ROUTES_ENV = "DAEPLOY_TRAFFIC_ROUTES"  # "traefik": IngressRoute, weights and shadows
MIRROR_MAX_BODY_ENV = "DAEPLOY_MIRROR_MAX_BODY_BYTES"  # bodies copied to shadows; -1: any size
OPERATOR_SETTINGS_ENV = (
    INGRESS_CLASS_ENV,
    INGRESS_HOST_ENV,
    NAMESPACE_HOSTS_ENV,
    NAMESPACE_DOMAIN_ENV,
    WATCH_NAMESPACES_ENV,
    RUNTIME_IMAGE_ENV,
    RESYNC_SECONDS_ENV,
    WATCH_SERVER_TIMEOUT_ENV,
    WATCH_CLIENT_TIMEOUT_ENV,
    LIVENESS_ENDPOINT_ENV,
    ACCESS_GATE_URL_ENV,
    ACCESS_INGRESS_GATE_URL_ENV,
    ACCESS_INGRESS_ANNOTATIONS_ENV,
    ACCESS_TRAEFIK_MIDDLEWARE_ENV,
    ACCESS_TRAEFIK_PLUGIN_ENV,
    TRAFFIC_ROUTES_ENV,
    MIRROR_MAX_BODY_ENV,
    GATE_CACHE_SECONDS_ENV,
)

# The web dashboard (services/dashboard/, chart value dashboard.*): its Deployment, Service and
# Ingress are named DASHBOARD_NAME in the chart's namespace; it serves under DASHBOARD_PATH
# (the chart's dashboard.path) and acts on the API server with each user's own token.
DASHBOARD_NAME = "daeploy-dashboard"
DASHBOARD_PATH = "/dashboard"  # default base path; clashes with neither /services nor the gate
DASHBOARD_BASE_PATH_ENV = "DAEPLOY_DASHBOARD_BASE_PATH"  # where it serves (the chart's path)
DASHBOARD_PORT_ENV = "DAEPLOY_DASHBOARD_PORT"  # where it listens in its pod
DASHBOARD_NAMESPACE_ENV = "DAEPLOY_DASHBOARD_NAMESPACE"  # shown first to a token without one
DASHBOARD_CA_FILE_ENV = "DAEPLOY_DASHBOARD_CA_FILE"  # the API server's CA bundle
DASHBOARD_TOKEN_COOKIE = "daeploy_dashboard_token"  # HttpOnly cookie holding the login token
DASHBOARD_LOGIN_COOKIE = "daeploy_dashboard_login"  # the login form's double-submit CSRF value
