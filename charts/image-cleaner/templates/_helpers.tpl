{{/* The labels on every object (Drydock's manifests carry the same). */}}
{{- define "eraser.labels" -}}
app.kubernetes.io/part-of: drydock
{{- end -}}

{{/* The manager's pod selector, Eraser's. */}}
{{- define "eraser.selectorLabels" -}}
control-plane: controller-manager
{{- end -}}

{{/* The manager's image repository: Eraser's manager image (a whole Eraser values file names it) means Drydock's. */}}
{{- define "eraser.repo" -}}
{{- $repo := .Values.deploy.image.repo -}}
{{- if eq $repo "ghcr.io/eraser-dev/eraser-manager" "mcr.microsoft.com/oss/eraser/eraser-manager" -}}
ghcr.io/drydock-dev/drydock
{{- else -}}
{{- $repo -}}
{{- end -}}
{{- end -}}

{{- define "eraser.tag" -}}
{{- if eq .Values.deploy.image.repo (include "eraser.repo" .) -}}
{{- .Values.deploy.image.tag | default .Chart.AppVersion | toString -}}
{{- else -}}
{{- .Chart.AppVersion -}}
{{- end -}}
{{- end -}}

{{- define "eraser.image" -}}
{{- printf "%s:%s" (include "eraser.repo" .) (include "eraser.tag" .) -}}
{{- end -}}

{{/*
The EraserConfig: runtimeConfig with every component's empty image repo and tag filled from
the manager's image.
*/}}
{{- define "eraser.config" -}}
{{- $config := deepCopy .Values.runtimeConfig -}}
{{- $components := $config.components | default dict -}}
{{- range $name := list "collector" "scanner" "remover" -}}
{{- $component := get $components $name | default dict -}}
{{- $image := $component.image | default dict -}}
{{- if not $image.repo -}}{{- $_ := set $image "repo" (include "eraser.repo" $) -}}{{- end -}}
{{- if not $image.tag -}}{{- $_ := set $image "tag" (include "eraser.tag" $) -}}{{- end -}}
{{- $_ := set $component "image" $image -}}
{{- $_ := set $components $name $component -}}
{{- end -}}
{{- $_ := set $config "components" $components -}}
{{- toYaml $config -}}
{{- end -}}
