#!/usr/bin/env python3
"""Reads template.yaml and checks, for every combination of the optional parameters, that each
optional resource and output exists exactly when its parameter asks for it, by evaluating the
template's Conditions (no AWS, no SAM transform). Also checks what the alerts and the CDN rely on
(the metric filter's pattern, the log group, the cache key) and that the function's IAM actions
are exactly the SDK calls src/store/ makes.

Run by scripts/test.d/10-deploy-lint.sh with .venv-tools/bin/python (cfn-lint's loader handles
the CloudFormation tags). `--self-test` also checks that a broken template fails.

Usage: template_test.py [TEMPLATE] [--self-test]
"""

import copy
import itertools
import json
import pathlib
import re
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parents[2]

ALERT_RESOURCES = {"AlertTopic", "AlertSubscription", "OwnerMustActFilter", "OwnerMustActAlarm"}
ALERT_OUTPUTS = {"AlertTopicArn"}
CDN_RESOURCES = {"CdnCachePolicy", "CdnCardCachePolicy", "CdnOriginSecret", "CdnDistribution"}
# Only with the CDN and an AllowedOrigins list: the viewer-request function that drops an Origin
# the list does not hold.
CDN_LIST_RESOURCES = {"CdnOriginFilter"}
CDN_OUTPUTS = {"CdnUrl", "CdnBaseUrl"}
CONSOLE_OUTPUTS = {"OwnerCallbackUrl", "OwnerConsoleUrl"}
# With "history" in ProfileEndpoints: the history's table, its schedule and the permission.
HISTORY_RESOURCES = {"HistoryTable", "CollectSchedule", "CollectPermission"}
HISTORY_OUTPUTS = {"HistoryTableName"}
# The owner's console: GET and POST for /owner and below, always routed (the function answers 404
# there without OwnerSpotifyId).
CONSOLE_ROUTES = {("GET", "/owner"), ("GET", "/owner/{proxy+}"), ("POST", "/owner/{proxy+}")}
FILTER_PATTERN = '{ $.fields.alert = "owner_must_act" }'
SCOPES = {"top": "user-top-read", "saved": "user-library-read"}

NO_VALUE = object()


def query_parameters(files=("json.rs",)):
    """Every query parameter the endpoints in `files` (of src/http/) read: the names given to
    params::parse_query and those compared by hand (`k == "theme"`); for cards.rs also the card
    parameters every card takes (params::CARD_PARAMETERS)."""
    found = set()
    for name in files:
        text = (ROOT / "src" / "http" / name).read_text()
        for call in re.findall(r"parse_query\((.*?)\)\?", text, re.S):
            found |= set(re.findall(r'\("([a-z_]+)",', call))
        found |= set(re.findall(r'\bk == "([a-z_]+)"', text))
        if "CARD_PARAMETERS" in text:
            params = (ROOT / "src" / "http" / "params.rs").read_text()
            table = re.search(r"pub const CARD_PARAMETERS[^=]*= &\[(.*?)\];", params, re.S).group(1)
            found |= set(re.findall(r'\("([a-z_]+)",', table))
    return found


def origin_secret_header():
    """The header the service checks (ORIGIN_SECRET_HEADER in src/config.rs)."""
    m = re.search(r'ORIGIN_SECRET_HEADER: &str = "([^"]+)"', (ROOT / "src" / "config.rs").read_text())
    check(m, "ORIGIN_SECRET_HEADER not found in src/config.rs")
    return m.group(1)


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def load(path):
    template, matches = decode(str(path))
    if template is None:
        raise Failure(f"{path} could not be read: {matches}")
    return template


def plain(node):
    """cfn-lint's node types as plain dicts, lists and strings."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


class Evaluator:
    def __init__(self, template, params):
        self.t = template
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            value = params.get(name, spec.get("Default"))
            check(value is not None, f"parameter {name} has no value and no default")
            allowed = spec.get("AllowedValues")
            if allowed is not None:
                check(str(value) in [str(a) for a in allowed], f"{name}={value!r} not in {allowed}")
            pattern = spec.get("AllowedPattern")
            if pattern is not None:
                check(re.fullmatch(pattern, str(value)), f"{name}={value!r} does not match {pattern}")
            self.params[name] = str(value)
        unknown = set(params) - set(self.params)
        check(not unknown, f"unknown parameters {unknown}")
        self.conds = {}

    def condition(self, name):
        if name not in self.conds:
            check(name in self.t.get("Conditions", {}), f"no condition {name}")
            self.conds[name] = self.truth(self.t["Conditions"][name])
        return self.conds[name]

    def truth(self, node):
        check(isinstance(node, dict) and len(node) == 1, f"not a condition: {node}")
        (fn, args), = node.items()
        if fn == "Fn::Equals":
            a, b = (self.value(x) for x in args)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.truth(args[0])
        if fn == "Fn::And":
            return all(self.truth(a) for a in args)
        if fn == "Fn::Or":
            return any(self.truth(a) for a in args)
        if fn == "Condition":
            return self.condition(args)
        raise Failure(f"unsupported condition function {fn}")

    def value(self, node):
        """Resolves Ref to parameters, Fn::If and AWS::NoValue; leaves other functions as they are."""
        if isinstance(node, dict):
            if len(node) == 1:
                (fn, args), = node.items()
                if fn == "Ref" and args in self.params:
                    return self.params[args]
                if fn == "Ref" and args == "AWS::NoValue":
                    return NO_VALUE
                if fn == "Fn::If":
                    name, yes, no = args
                    return self.value(yes if self.condition(name) else no)
                if fn == "Fn::Sub" and isinstance(args, str):
                    return {"Fn::Sub": re.sub(
                        r"\$\{([A-Za-z0-9]+)\}",
                        lambda m: self.params.get(m.group(1), m.group(0)),
                        args,
                    )}
            out = {}
            for k, v in node.items():
                v = self.value(v)
                if v is not NO_VALUE:
                    out[k] = v
            return out
        if isinstance(node, list):
            return [v for v in (self.value(x) for x in node) if v is not NO_VALUE]
        return node

    def present(self, section):
        out = {}
        for name, body in self.t.get(section, {}).items():
            cond = body.get("Condition")
            if cond is None or self.condition(cond):
                out[name] = self.value(body)
        return out


def refs(node):
    """Every logical id a node refers to (Ref, GetAtt, ${X} and ${X.Attr} in Sub)."""
    found = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(v[0] if isinstance(v, list) else v.split(".")[0])
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(v, list):
                    found |= refs(v[1])
            else:
                found |= refs(v)
    elif isinstance(node, list):
        for v in node:
            found |= refs(v)
    return found


def sdk_calls():
    """The DynamoDB and Secrets Manager operations src/ calls on the cache table and the
    secrets (src/history/, which has a table of its own, apart), as IAM action names."""
    def pascal(snake):
        return "".join(p.capitalize() for p in snake.split("_"))

    def calls(path, ops):
        text = (ROOT / path).read_text() if (ROOT / path).exists() else ""
        found = {pascal(m) for m in re.findall(r"\.(\w+)\(\)\s*\n?\s*\.", text) if m in ops}
        # IAM has no TransactWriteItems action: each item of a transaction is authorised as its
        # own kind (Put: PutItem, Delete: DeleteItem, ConditionCheck: ConditionCheckItem, ...).
        if "TransactWriteItems" in found:
            found.discard("TransactWriteItems")
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem"}
            found |= {a for k, a in kinds.items() if re.search(rf"\b{k}::builder\(\)", text)}
        return found

    dynamo_ops = {"get_item", "put_item", "delete_item", "update_item", "batch_get_item",
                  "batch_write_item", "query", "scan", "transact_get_items", "transact_write_items"}
    secret_ops = {"get_secret_value", "put_secret_value", "create_secret", "describe_secret",
                  "update_secret", "update_secret_version_stage"}
    # src/history/ talks to a table of its own (the history's), never to the cache table.
    dynamo, history = set(), set()
    for f in (ROOT / "src").rglob("*.rs"):
        rel = f.relative_to(ROOT)
        if rel.parts[:2] == ("src", "history"):
            history |= calls(rel, dynamo_ops)
        else:
            dynamo |= calls(rel, dynamo_ops)
    check(history and "Scan" not in history,
          f"src/history/ calls {sorted(history)}: it must be found, and never Scan")
    secrets = set()
    for f in (ROOT / "src").rglob("*.rs"):
        secrets |= calls(f.relative_to(ROOT), secret_ops)
    sdk_calls.history = {"dynamodb:" + a for a in history}
    return {"dynamodb:" + a for a in dynamo}, {"secretsmanager:" + a for a in secrets}


def check_combination(template, params):
    ev = Evaluator(template, params)
    resources = ev.present("Resources")
    outputs = ev.present("Outputs")
    alerts = params["AlertEmail"] != ""
    cdn = params["EnableCdn"] == "true"
    console = params["OwnerSpotifyId"] != ""
    history = "history" in params["ProfileEndpoints"].split(",")
    label = ", ".join(f"{k}={v!r}" for k, v in params.items())

    origin_list = params["AllowedOrigins"] != "*"
    for group, wanted, names in [
        ("alert resources", alerts, ALERT_RESOURCES),
        ("CDN resources", cdn, CDN_RESOURCES),
        ("CDN resources with an origin list", cdn and origin_list, CDN_LIST_RESOURCES),
        ("history resources", history, HISTORY_RESOURCES),
    ]:
        for name in names:
            check((name in resources) == wanted,
                  f"[{label}] {name} {'missing' if wanted else 'present'} ({group})")
    for group, wanted, names in [("alert outputs", alerts, ALERT_OUTPUTS), ("CDN outputs", cdn, CDN_OUTPUTS),
                                 ("console outputs", console, CONSOLE_OUTPUTS),
                                 ("history outputs", history, HISTORY_OUTPUTS)]:
        for name in names:
            check((name in outputs) == wanted,
                  f"[{label}] output {name} {'missing' if wanted else 'present'} ({group})")

    # Nothing present may refer to something absent.
    for section, items in (("resource", resources), ("output", outputs)):
        for name, body in items.items():
            for target in refs(body):
                if target in template.get("Resources", {}):
                    check(target in resources,
                          f"[{label}] {section} {name} refers to {target}, which is not created")

    fn = resources["NowPlayingFunction"]["Properties"]
    env = fn["Environment"]["Variables"]
    profile = params["ProfileEndpoints"]
    if profile:
        check(env.get("PROFILE_ENDPOINTS") == profile,
              f"[{label}] function PROFILE_ENDPOINTS={env.get('PROFILE_ENDPOINTS')!r}")
    else:
        check("PROFILE_ENDPOINTS" not in env, f"[{label}] PROFILE_ENDPOINTS set while empty")
    for var, param in [("RECENT_TTL_SECONDS", "RecentTtlSeconds"), ("TOP_TTL_SECONDS", "TopTtlSeconds"),
                       ("SAVED_TTL_SECONDS", "SavedTtlSeconds"),
                       ("PLAYLISTS_TTL_SECONDS", "PlaylistsTtlSeconds")]:
        check(str(env.get(var)) == ev.params[param], f"[{label}] {var}={env.get(var)!r}, not {param}")

    for var, param in [("HIDE_EXPLICIT", "HideExplicit"), ("HIDE_PODCASTS", "HidePodcasts"),
                       ("HIDE_ARTISTS", "HideArtists"), ("HIDE_TRACKS", "HideTracks"),
                       ("HIDE_SHOWS", "HideShows"), ("QUIET_HOURS", "QuietHours"),
                       ("TIMEZONE", "Timezone"), ("RESPECT_PRIVATE_SESSION", "RespectPrivateSession"),
                       ("PUBLISH_DELAY_SECONDS", "PublishDelaySeconds")]:
        check(str(env.get(var)) == ev.params[param], f"[{label}] {var}={env.get(var)!r}, not {param}")
    fallback = ev.params["OpenFallbackUrl"]
    if fallback:
        check(env.get("OPEN_FALLBACK_URL") == fallback, f"[{label}] OPEN_FALLBACK_URL={env.get('OPEN_FALLBACK_URL')!r}")
    else:
        check("OPEN_FALLBACK_URL" not in env, f"[{label}] OPEN_FALLBACK_URL set while empty")

    if console:
        check(env.get("OWNER_SPOTIFY_ID") == params["OwnerSpotifyId"],
              f"[{label}] OWNER_SPOTIFY_ID={env.get('OWNER_SPOTIFY_ID')!r}")
        url = outputs["OwnerCallbackUrl"]["Value"]["Fn::Sub"]
        check(url.startswith("https://${HttpApi}.execute-api.") and url.endswith("/owner/callback"),
              f"[{label}] OwnerCallbackUrl {url}")
    else:
        check("OWNER_SPOTIFY_ID" not in env, f"[{label}] OWNER_SPOTIFY_ID set while empty")
    check("PUBLIC_URL" not in env, f"[{label}] PUBLIC_URL in the function's environment (circular with the API)")
    routes = {(e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in fn["Events"].values()}
    check(CONSOLE_ROUTES <= routes, f"[{label}] console routes missing: {sorted(CONSOLE_ROUTES - routes)}")
    # A stack update writes SecretString (or a changed GenerateSecretString) into the secret
    # again: the credentials secret must keep the property it always had, so that an update
    # never overwrites the owner's refresh token.
    secret = resources["TokenSecret"]["Properties"]
    check(secret.get("SecretString") == "{}" and "GenerateSecretString" not in secret,
          f"[{label}] the credentials secret is not the plain SecretString \"{{}}\" (an update would overwrite it): {secret}")
    if console:
        key = resources.get("ConsoleKeySecret", {}).get("Properties", {})
        gen = key.get("GenerateSecretString", {})
        check(gen.get("GenerateStringKey") == "console_key" and "SecretString" not in key
              and int(gen.get("PasswordLength", 0)) >= 32,
              f"[{label}] the console key secret is not created with a random console_key: {key}")
        check(env.get("CONSOLE_KEY_SECRET_ID") == {"Ref": "ConsoleKeySecret"},
              f"[{label}] CONSOLE_KEY_SECRET_ID={env.get('CONSOLE_KEY_SECRET_ID')!r}")
        reads = [st for policy in fn["Policies"] for st in policy["Statement"]
                 if st.get("Sid") == "ConsoleKeySecret"]
        check(len(reads) == 1 and reads[0]["Action"] == ["secretsmanager:GetSecretValue"]
              and reads[0]["Resource"] == {"Ref": "ConsoleKeySecret"},
              f"[{label}] the function may not only read the console key secret: {reads}")
    else:
        check("ConsoleKeySecret" not in resources and "CONSOLE_KEY_SECRET_ID" not in env,
              f"[{label}] a console key secret without the console")

    command = outputs["AuthorizeCommand"]["Value"]
    command = command["Fn::Sub"] if isinstance(command, dict) else command
    check(command.endswith("nowplaying authorize"), f"[{label}] AuthorizeCommand: {command}")
    if profile:
        check(f"PROFILE_ENDPOINTS={profile} " in command,
              f"[{label}] AuthorizeCommand lacks PROFILE_ENDPOINTS={profile}: {command}")
    else:
        check("PROFILE_ENDPOINTS" not in command, f"[{label}] AuthorizeCommand: {command}")
    for needed in ("TOKEN_SECRET_ID=", "CACHE_TABLE=", "AWS_REGION="):
        check(needed in command, f"[{label}] AuthorizeCommand lacks {needed}")
    # The owner's commands refuse PROFILE_ENDPOINTS=history with CACHE_TABLE but no HISTORY_TABLE.
    check(("HISTORY_TABLE=${HistoryTable} " in command) == history,
          f"[{label}] AuthorizeCommand and HISTORY_TABLE: {command}")
    if history:
        check(env.get("HISTORY_TABLE") == {"Ref": "HistoryTable"},
              f"[{label}] HISTORY_TABLE={env.get('HISTORY_TABLE')!r}")
        table = template["Resources"]["HistoryTable"]
        check(table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain",
              f"[{label}] the history table is not kept when the stack goes (it is the owner's data)")
        keys = {k["AttributeName"]: k["KeyType"] for k in table["Properties"]["KeySchema"]}
        check(keys == {"pk": "HASH", "sk": "RANGE"}, f"[{label}] history key schema {keys}")
        rule = resources["CollectSchedule"]["Properties"]
        check(rule["ScheduleExpression"] == "rate(10 minutes)"
              and json.loads(rule["Targets"][0]["Input"]) == {"nowplaying": "collect"},
              f"[{label}] the collection schedule is not every 10 minutes with the collect event: {rule}")
    else:
        check("HISTORY_TABLE" not in env, f"[{label}] HISTORY_TABLE without the history")

    if alerts:
        f = resources["OwnerMustActFilter"]["Properties"]
        check(f["FilterPattern"] == FILTER_PATTERN, f"[{label}] filter pattern {f['FilterPattern']!r}")
        check(f["LogGroupName"] == {"Ref": "FunctionLogGroup"}, f"[{label}] filter not on FunctionLogGroup")
        mt = f["MetricTransformations"][0]
        alarm = resources["OwnerMustActAlarm"]["Properties"]
        check(alarm["MetricName"] == mt["MetricName"] and alarm["Namespace"] == mt["MetricNamespace"],
              f"[{label}] the alarm watches another metric than the filter writes")
        check(alarm["AlarmActions"] == [{"Ref": "AlertTopic"}], f"[{label}] alarm actions")
        sub = resources["AlertSubscription"]["Properties"]
        check(sub["Protocol"] == "email" and sub["Endpoint"] == params["AlertEmail"],
              f"[{label}] subscription {sub}")
        text = alarm["AlarmDescription"]
        text = text["Fn::Sub"] if isinstance(text, dict) else text
        check(("/owner " in text) == console, f"[{label}] the alarm's e-mail and the console URL: {text}")
        check(len(text) <= 1024, f"[{label}] AlarmDescription longer than 1024 characters")

    if cdn:
        key = resources["CdnCachePolicy"]["Properties"]["CachePolicyConfig"]
        check(key["MinTTL"] == 0 and key["DefaultTTL"] == 0, f"[{label}] CDN TTLs must defer to the origin")
        p = key["ParametersInCacheKeyAndForwardedToOrigin"]
        qs = p["QueryStringsConfig"]
        read = query_parameters()
        check(read == {"range", "limit"}, f"the JSON endpoints read other parameters now: {sorted(read)}")
        check(qs["QueryStringBehavior"] == "whitelist" and set(qs.get("QueryStrings", [])) == read,
              f"[{label}] the cache key must hold exactly the query parameters read ({sorted(read)}): {qs}")
        check(p["CookiesConfig"]["CookieBehavior"] == "none",
              f"[{label}] cookies forwarded (CloudFront then ignores If-None-Match)")
        headers = p["HeadersConfig"]
        if not origin_list:
            check(headers == {"HeaderBehavior": "none"}, f"[{label}] headers {headers}")
        else:
            check(headers.get("HeaderBehavior") == "whitelist" and headers.get("Headers") == ["Origin"],
                  f"[{label}] the key's headers must be Origin alone: {headers}")

        card = resources["CdnCardCachePolicy"]["Properties"]["CachePolicyConfig"]
        window = ev.params["CacheTtlSeconds"]
        check(all(str(card[t]) == window for t in ("MinTTL", "DefaultTTL", "MaxTTL")) and int(window) > 0,
              f"[{label}] the card must be kept exactly one cache window at the edge: {card}")
        cards = query_parameters(("cards.rs",))
        check({"theme", "bg", "idle_text", "kind"} <= cards and len(cards) > 10,
              f"the cards read other parameters now ({sorted(cards)}): a whitelist may hold 10")
        dist = resources["CdnDistribution"]["Properties"]["DistributionConfig"]
        behaviours = {b["PathPattern"]: b for b in dist.get("CacheBehaviors", [])}
        history = query_parameters(("history.rs",))
        check({"from", "to", "limit", "cursor"} <= history,
              f"the history reads other parameters now ({sorted(history)})")
        for path, policy in (("/api/spotify.svg", "CdnCardCachePolicy"),
                             ("/api/spotify/top.svg", "CdnListCardCachePolicy"),
                             ("/api/spotify/recent.svg", "CdnListCardCachePolicy"),
                             ("/api/spotify/playlists.svg", "CdnListCardCachePolicy"),
                             ("/api/spotify/history*", "CdnListCardCachePolicy")):
            check(behaviours.get(path, {}).get("CachePolicyId") == {"Ref": policy},
                  f"[{label}] {path} does not use its cache policy {policy}")
            cp = resources[policy]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
            # More names than a whitelist may hold: every query string, unknown ones answered 400
            # with no-store (never kept).
            check(cp["QueryStringsConfig"] == {"QueryStringBehavior": "all"},
                  f"[{label}] {path}'s key must hold every card parameter: {cp['QueryStringsConfig']}")
            check(cp["HeadersConfig"] == {"HeaderBehavior": "none"} and cp["CookiesConfig"]["CookieBehavior"] == "none",
                  f"[{label}] {path}'s key holds headers or cookies: {cp}")
        lc = resources["CdnListCardCachePolicy"]["Properties"]["CachePolicyConfig"]
        check(lc["MinTTL"] == 0 and lc["DefaultTTL"] == 0,
              f"[{label}] the top list card's TTLs must defer to the origin: {lc}")
        default = dist["DefaultCacheBehavior"]
        check(default["CachePolicyId"] == {"Ref": "CdnCachePolicy"}, f"[{label}] default cache policy")
        assoc = default.get("FunctionAssociations", [])
        if origin_list:
            check(assoc == [{"EventType": "viewer-request",
                             "FunctionARN": {"Fn::GetAtt": ["CdnOriginFilter", "FunctionMetadata.FunctionARN"]}}]
                  or (len(assoc) == 1 and assoc[0]["EventType"] == "viewer-request"
                      and "CdnOriginFilter" in refs(assoc[0])),
                  f"[{label}] the origin filter is not a viewer-request function: {assoc}")
            code = resources["CdnOriginFilter"]["Properties"]["FunctionCode"]
            code = code["Fn::Sub"] if isinstance(code, dict) else code
            check(params["AllowedOrigins"] in code and "delete h.origin" in code,
                  f"[{label}] the origin filter does not drop Origins outside AllowedOrigins")
        else:
            check(not assoc, f"[{label}] a function on every request without an origin list")

        # Origin protection: CloudFront sends the secret in the header the service checks, and the
        # function is given the same value.
        (origin,) = dist["Origins"]
        sent = {h["HeaderName"].lower(): h["HeaderValue"] for h in origin.get("OriginCustomHeaders", [])}
        header = origin_secret_header()
        check(header in sent, f"[{label}] CloudFront does not send {header} to the origin: {origin}")
        check(env.get("CDN_ORIGIN_SECRET") == sent[header],
              f"[{label}] CDN_ORIGIN_SECRET={env.get('CDN_ORIGIN_SECRET')!r} is not what CloudFront sends "
              f"({sent[header]!r})")
        check("CdnOriginSecret" in refs(sent[header]) and "{{resolve:secretsmanager:" in sent[header]["Fn::Sub"],
              f"[{label}] the origin header is not the generated secret: {sent[header]}")
        gen = resources["CdnOriginSecret"]["Properties"]["GenerateSecretString"]
        check(int(gen.get("PasswordLength", 0)) >= 32 and "SecretStringTemplate" not in gen,
              f"[{label}] the origin secret is not a long random string: {gen}")
    else:
        # Without the CDN nothing would ever send the header: the function must not ask for it.
        check("CDN_ORIGIN_SECRET" not in env, f"[{label}] CDN_ORIGIN_SECRET set without the CDN")

    # Per-route throttles: the widget's poll and the card have their own; every other route the
    # default (which API Gateway applies to each route separately).
    api = resources["HttpApi"]["Properties"]
    per_route = api.get("RouteSettings", {})
    for key in per_route:
        method, path = key.split(" ", 1)
        check((method, path) in routes, f"[{label}] RouteSettings for {key}, which is not a route")
    for key, rate, burst in [("GET /api/spotify", "ThrottleRateLimit", "ThrottleBurstLimit"),
                             ("GET /api/spotify.svg", "CardThrottleRateLimit", "CardThrottleBurstLimit")]:
        got = per_route.get(key, {})
        check(got.get("ThrottlingRateLimit") == ev.params[rate] and got.get("ThrottlingBurstLimit") == ev.params[burst],
              f"[{label}] {key} is not throttled by {rate}/{burst}: {got}")
    d = api["DefaultRouteSettings"]
    check(d.get("ThrottlingRateLimit") == ev.params["OtherThrottleRateLimit"]
          and d.get("ThrottlingBurstLimit") == ev.params["OtherThrottleBurstLimit"],
          f"[{label}] the other routes are not throttled by OtherThrottle*: {d}")

    check_security_headers(resources, cdn, label)
    return resources, outputs


def check_security_headers(resources, cdn, label):
    """With the CDN: a response-headers policy with HSTS on the default behaviour, which leaves
    the function's per-path Content-Security-Policy and nosniff alone."""
    check(("CdnResponseHeadersPolicy" in resources) == cdn,
          f"[{label}] CdnResponseHeadersPolicy {'missing' if cdn else 'present'} (CDN resources)")
    if not cdn:
        return
    behavior = resources["CdnDistribution"]["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    check(behavior.get("ResponseHeadersPolicyId") == {"Ref": "CdnResponseHeadersPolicy"},
          f"[{label}] the default cache behaviour does not use the response-headers policy")
    security = resources["CdnResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"]
    hsts = security.get("StrictTransportSecurity", {})
    check(int(hsts.get("AccessControlMaxAgeSec", 0)) >= 31536000 and hsts.get("Override") is True,
          f"[{label}] HSTS for less than a year, or not enforced: {hsts}")
    check("ContentSecurityPolicy" not in security,
          f"[{label}] a CDN-wide Content-Security-Policy would replace the function's per-path ones")
    check(security.get("ContentTypeOptions", {}).get("Override") is False,
          f"[{label}] the CDN overrides the function's nosniff")


def check_static(template):
    resources = template["Resources"]
    sar = template.get("Metadata", {}).get("AWS::ServerlessRepo::Application", {})
    cargo = (ROOT / "Cargo.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
    license_id = re.search(r'^license = "([^"]+)"', cargo, re.M).group(1)
    check(str(sar.get("SemanticVersion")) == version,
          f"the template's SemanticVersion {sar.get('SemanticVersion')!r} is not Cargo.toml's {version}")
    check(sar.get("SpdxLicenseId") == license_id, f"SpdxLicenseId {sar.get('SpdxLicenseId')!r}, Cargo.toml {license_id}")
    for key in ("LicenseUrl", "ReadmeUrl"):
        check(sar.get(key) and (ROOT / sar[key]).is_file(), f"{key} {sar.get(key)!r} is not a file of the repository")
    check(sar.get("Name") and sar.get("Description") and sar.get("Author"), "the SAR metadata lacks a name, description or author")
    fn = resources["NowPlayingFunction"]["Properties"]
    check(fn["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"},
          "the function does not log to FunctionLogGroup (the metric filter's log group)")
    check(fn["LoggingConfig"].get("LogFormat") == "JSON", "the function's logs are not JSON")
    check("RetentionInDays" in resources["FunctionLogGroup"]["Properties"], "the log group keeps logs forever")

    dynamo, secrets = sdk_calls()
    # CreateSecret is only reached when the secret does not exist; the stack creates it.
    secrets.discard("secretsmanager:CreateSecret")
    granted = {}
    for policy in fn["Policies"]:
        # A statement only some deployments have is `Fn::If [condition, statement, NoValue]`.
        policy = policy["Fn::If"][1] if "Fn::If" in policy else policy
        for st in policy["Statement"]:
            granted[st["Sid"]] = set(st["Action"])
    check(dynamo, "found no DynamoDB calls in src/ (the pattern is out of date)")
    check(granted["CacheTable"] == dynamo,
          f"DynamoDB actions granted {sorted(granted['CacheTable'])} but src/ calls {sorted(dynamo)}")
    check(granted["TokenSecret"] == secrets,
          f"Secrets Manager actions granted {sorted(granted['TokenSecret'])} but src/ calls {sorted(secrets)}")
    check(granted.get("HistoryTable") == sdk_calls.history,
          f"history table actions granted {sorted(granted.get('HistoryTable', []))} but src/history/ calls "
          f"{sorted(sdk_calls.history)}")
    check(granted.get("ConsoleKeySecret") == {"secretsmanager:GetSecretValue"},
          f"the console key secret grants {granted.get('ConsoleKeySecret')}, not only GetSecretValue")


def check_documented_worst_case(template):
    """docs/deploy-aws.md's worst case is computed from the template's defaults: the requests a
    second of every route at its throttle (the two with settings of their own, every other route
    at the default), and the requests an hour."""
    params = template["Parameters"]
    api = template["Resources"]["HttpApi"]["Properties"]
    events = template["Resources"]["NowPlayingFunction"]["Properties"]["Events"].values()
    routes = {f'{e["Properties"]["Method"].upper()} {e["Properties"]["Path"]}' for e in events}
    default = int(params[api["DefaultRouteSettings"]["ThrottlingRateLimit"]["Ref"]]["Default"])
    check("RouteSettings" in api, "HttpApi has no RouteSettings: one throttle for every route")
    own = {k: int(params[v["ThrottlingRateLimit"]["Ref"]]["Default"]) for k, v in api["RouteSettings"].items()}
    total = sum(own.values()) + default * len(routes - set(own))
    doc = (ROOT / "docs" / "deploy-aws.md").read_text()
    per_hour = f"{total * 3600 / 1e6:.2f} M"
    check(f"| **{total:,}** | **{per_hour}** |" in doc,
          f"docs/deploy-aws.md's worst case is not {total:,} requests a second ({per_hour} an hour), "
          f"what the template's throttles let through over its {len(routes)} routes")
    check(f"{len(routes) - len(own)} other routes" in doc,
          f"docs/deploy-aws.md does not count {len(routes) - len(own)} other routes")


def combinations():
    for alert, cdn, profile, origins, owner in itertools.product(
        ["", "owner@example.com"], ["false", "true"], ["", "top", "saved", "top,saved", "history", "top,saved,history", "playlists",
         "history,playlists", "top,saved,history,playlists"],
        ["*", "https://me.example,https://www.me.example"], ["", "the.owner-1"],
    ):
        yield {"AlertEmail": alert, "EnableCdn": cdn, "ProfileEndpoints": profile, "AllowedOrigins": origins,
               "OwnerSpotifyId": owner}


def lint_combinations(template, sets):
    """cfn-lint, with each parameter combination (cfn-lint resolves the Conditions with them)."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"], parameters=sets))
    check(not matches, "cfn-lint: " + "; ".join(str(m) for m in matches[:10]))


def run(template):
    check_static(template)
    check_documented_worst_case(template)
    sets = list(combinations())
    for params in sets:
        check_combination(template, params)
    # The one parameter outside the combinations, set.
    check_combination(template, {**sets[0], "OpenFallbackUrl": "https://open.spotify.com/user/me"})
    lint_combinations(template, sets)
    return len(sets)


def self_test(template):
    """Each mutation must be caught, or this test could not fail."""
    mutations = {
        "alert topic without its condition": lambda t: t["Resources"]["AlertTopic"].pop("Condition"),
        "CDN output without its condition": lambda t: t["Outputs"]["CdnUrl"].pop("Condition"),
        "distribution always on": lambda t: t["Resources"]["CdnDistribution"].__setitem__("Condition", "HasAlertEmail"),
        "wrong filter pattern": lambda t: t["Resources"]["OwnerMustActFilter"]["Properties"].__setitem__(
            "FilterPattern", '{ $.alert = "owner_must_act" }'),
        "an extra IAM action": lambda t: t["Resources"]["NowPlayingFunction"]["Properties"]["Policies"][0][
            "Statement"][0]["Action"].append("dynamodb:Scan"),
        "OwnerCallbackUrl without its condition": lambda t: t["Outputs"]["OwnerCallbackUrl"].pop("Condition"),
        "no console routes": lambda t: t["Resources"]["NowPlayingFunction"]["Properties"]["Events"].pop(
            "PostOwnerPaths"),
        "console key secret without console_key": lambda t: t["Resources"]["ConsoleKeySecret"]["Properties"].pop(
            "GenerateSecretString"),
        "credentials secret generated (an update would overwrite it)": lambda t: t["Resources"]["TokenSecret"][
            "Properties"].__setitem__("GenerateSecretString", {"GenerateStringKey": "console_key"}),
        "console key secret writable": lambda t: t["Resources"]["NowPlayingFunction"]["Properties"]["Policies"][2][
            "Fn::If"][1]["Statement"][0]["Action"].append("secretsmanager:PutSecretValue"),
        "CDN without HSTS": lambda t: t["Resources"]["CdnDistribution"]["Properties"]["DistributionConfig"][
            "DefaultCacheBehavior"].pop("ResponseHeadersPolicyId"),
        "AuthorizeCommand ignores ProfileEndpoints": lambda t: t["Outputs"]["AuthorizeCommand"].__setitem__(
            "Value", t["Outputs"]["AuthorizeCommand"]["Value"]["Fn::If"][2]),
        "every query string in the cache key": lambda t: t["Resources"]["CdnCachePolicy"]["Properties"][
            "CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"].__setitem__(
            "QueryStringsConfig", {"QueryStringBehavior": "all"}),
        "any Origin in the key": lambda t: t["Resources"]["CdnDistribution"]["Properties"]["DistributionConfig"][
            "DefaultCacheBehavior"].pop("FunctionAssociations"),
        "no origin header": lambda t: t["Resources"]["CdnDistribution"]["Properties"]["DistributionConfig"][
            "Origins"][0].pop("OriginCustomHeaders"),
        "origin secret without the CDN": lambda t: t["Resources"]["NowPlayingFunction"]["Properties"][
            "Environment"]["Variables"].__setitem__(
            "CDN_ORIGIN_SECRET", "a-value-nothing-would-ever-send"),
        "card not kept at the edge": lambda t: t["Resources"]["CdnCardCachePolicy"]["Properties"][
            "CachePolicyConfig"].__setitem__("MinTTL", 0),
        "the card keyed on theme alone": lambda t: t["Resources"]["CdnCardCachePolicy"]["Properties"][
            "CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"].__setitem__(
            "QueryStringsConfig", {"QueryStringBehavior": "whitelist", "QueryStrings": ["theme"]}),
        "top card on the default policy": lambda t: t["Resources"]["CdnDistribution"]["Properties"][
            "DistributionConfig"]["CacheBehaviors"].pop(1),
        "history on the default policy": lambda t: t["Resources"]["CdnDistribution"]["Properties"][
            "DistributionConfig"]["CacheBehaviors"].pop(2),
        "top card kept one window": lambda t: t["Resources"]["CdnListCardCachePolicy"]["Properties"][
            "CachePolicyConfig"].__setitem__("MinTTL", 5),
        "card without its behaviour": lambda t: t["Resources"]["CdnDistribution"]["Properties"][
            "DistributionConfig"].pop("CacheBehaviors"),
        "one throttle for every route": lambda t: t["Resources"]["HttpApi"]["Properties"].pop("RouteSettings"),
        "a card throttle the docs do not count": lambda t: t["Parameters"]["CardThrottleRateLimit"].__setitem__(
            "Default", 500),
        "history table deleted with the stack": lambda t: t["Resources"]["HistoryTable"].__setitem__(
            "DeletionPolicy", "Delete"),
        "schedule without its condition": lambda t: t["Resources"]["CollectSchedule"].pop("Condition"),
        "history may scan": lambda t: t["Resources"]["NowPlayingFunction"]["Properties"]["Policies"][1][
            "Fn::If"][1]["Statement"][0]["Action"].append("dynamodb:Scan"),
        "schedule every hour": lambda t: t["Resources"]["CollectSchedule"]["Properties"].__setitem__(
            "ScheduleExpression", "rate(1 hour)"),
        "commands without HISTORY_TABLE": lambda t: t["Outputs"]["AuthorizeCommand"].__setitem__(
            "Value", t["Outputs"]["AuthorizeCommand"]["Value"]["Fn::If"][2]),
        "a privacy rule not passed on": lambda t: t["Resources"]["NowPlayingFunction"]["Properties"][
            "Environment"]["Variables"].pop("QUIET_HOURS"),
        "a version other than Cargo.toml's": lambda t: t["Metadata"]["AWS::ServerlessRepo::Application"].__setitem__(
            "SemanticVersion", "9.9.9"),
        "a runtime cfn-lint refuses": lambda t: t["Resources"]["CdnOriginFilter"]["Properties"][
            "FunctionConfig"].__setitem__("Runtime", "cloudfront-js-9.9"),
    }
    for name, mutate in mutations.items():
        broken = copy.deepcopy(template)
        mutate(broken)
        try:
            run(broken)
        except Failure:
            continue
        raise Failure(f"self-test: the check missed a broken template ({name})")
    return len(mutations)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    path = pathlib.Path(args[0]) if args else ROOT / "template.yaml"
    template = plain(load(path))
    try:
        n = run(template)
        print(f"template_test: {n} parameter combinations: every optional resource and output "
              f"exists exactly when its parameter asks for it, the CDN's cache keys and origin "
              f"protection hold, and cfn-lint passes with each")
        if "--self-test" in argv:
            m = self_test(template)
            print(f"template_test: self-test: {m} broken templates were each caught")
    except Failure as e:
        print(f"template_test: FAIL: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
