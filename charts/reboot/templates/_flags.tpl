{{/*
The daemon's flags from `configuration`, as kured's chart renders them: one `--kebab-case=value`
per non-empty value, list values once per item, booleans only when true (`--force-reboot`
bare), and the Slack values through `tpl`. The sentinel flags depend on
useRebootSentinelHostPath (the mounted file is passed by the DaemonSet template).
*/}}
{{- define "kured.flags" -}}
{{- $c := .Values.configuration -}}
{{- $scalars := list
  (list "metricsHost" "metrics-host")
  (list "metricsPort" "metrics-port")
  (list "lockTtl" "lock-ttl")
  (list "alertFilterRegexp" "alert-filter-regexp")
  (list "alertFiringOnly" "alert-firing-only")
  (list "alertFilterMatchOnly" "alert-filter-match-only")
  (list "endTime" "end-time")
  (list "lockAnnotation" "lock-annotation")
  (list "period" "period")
  (list "drainGracePeriod" "drain-grace-period")
  (list "drainPodSelector" "drain-pod-selector")
  (list "drainDelay" "drain-delay")
  (list "drainTimeout" "drain-timeout")
  (list "skipWaitForDeleteTimeout" "skip-wait-for-delete-timeout")
  (list "prometheusUrl" "prometheus-url")
  (list "rebootCommand" "reboot-command")
  (list "rebootDelay" "reboot-delay")
  (list "rebootMethod" "reboot-method")
  (list "rebootSignal" "reboot-signal")
  (list "messageTemplateDrain" "message-template-drain")
  (list "messageTemplateReboot" "message-template-reboot")
  (list "messageTemplateUncordon" "message-template-uncordon")
  (list "startTime" "start-time")
  (list "timeZone" "time-zone")
  (list "annotateNodes" "annotate-nodes")
  (list "lockReleaseDelay" "lock-release-delay")
  (list "preferNoScheduleTaint" "prefer-no-schedule-taint")
  (list "logFormat" "log-format")
  (list "concurrency" "concurrency")
  (list "allowConcurrentControlPlaneReboots" "allow-concurrent-control-plane-reboots")
  (list "maxRebootsPerDay" "max-reboots-per-day")
  (list "rebootOnRequest" "reboot-on-request")
  (list "healthGate" "health-gate")
  (list "healthGateTimeout" "health-gate-timeout")
  (list "zoneLabel" "zone-label")
  (list "maxNodesPerZone" "max-nodes-per-zone")
  (list "maxZones" "max-zones")
-}}
{{- $lists := list
  (list "blockingPodSelector" "blocking-pod-selector")
  (list "rebootDays" "reboot-days")
  (list "preRebootNodeLabels" "pre-reboot-node-labels")
  (list "postRebootNodeLabels" "post-reboot-node-labels")
  (list "windows" "window")
-}}
{{- range $scalars }}
{{- $value := get $c (index . 0) }}
{{- if $value }}
- {{ printf "--%s=%v" (index . 1) $value | quote }}
{{- end }}
{{- end }}
{{- if $c.forceReboot }}
- --force-reboot
{{- end }}
{{- range $lists }}
{{- $flag := index . 1 }}
{{- range (get $c (index . 0) | default list) }}
- {{ printf "--%s=%v" $flag . | quote }}
{{- end }}
{{- end }}
{{- if not $c.useRebootSentinelHostPath }}
{{- with $c.rebootSentinel }}
- {{ printf "--reboot-sentinel=%s" . | quote }}
{{- end }}
{{- with $c.rebootSentinelCommand }}
- {{ printf "--reboot-sentinel-command=%s" . | quote }}
{{- end }}
{{- end }}
{{- range (list (list "slackChannel" "slack-channel") (list "slackHookUrl" "slack-hook-url") (list "slackUsername" "slack-username")) }}
{{- $value := get $c (index . 0) }}
{{- if $value }}
- {{ printf "--%s=%s" (index . 1) (tpl (toString $value) $) | quote }}
{{- end }}
{{- end }}
{{- if kindIs "slice" $c.notifyUrl }}
{{- range $c.notifyUrl }}
- {{ printf "--notify-url=%s" . | quote }}
{{- end }}
{{- else if $c.notifyUrl }}
- {{ printf "--notify-url=%s" $c.notifyUrl | quote }}
{{- end }}
{{- end -}}
