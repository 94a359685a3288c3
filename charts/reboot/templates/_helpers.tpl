{{/*
The base name, kured's: objects are named like the kured chart's, so swapping charts keeps the
DaemonSet (which carries the reboot lock) and its RBAC under the same names.
*/}}
{{- define "kured.name" -}}
{{- default "kured" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release name plus "-kured", unless the release name already contains it. */}}
{{- define "kured.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kured.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The labels on every object (Drydock's manifests carry the same). */}}
{{- define "kured.labels" -}}
app.kubernetes.io/part-of: drydock
{{- end -}}

{{/* The pod selector, as kured's released manifests select (`name=kured`). */}}
{{- define "kured.selectorLabels" -}}
name: {{ include "kured.fullname" . }}
{{- end -}}

{{- define "kured.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kured.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The image: kured's own repository (a kured values file copied whole names it) means Drydock's,
at the chart's appVersion; any other repository is used as given.
*/}}
{{- define "kured.image" -}}
{{- $repo := .Values.image.repository -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if eq $repo "ghcr.io/kubereboot/kured" "docker.io/kubereboot/kured" "kubereboot/kured" -}}
{{- $repo = "ghcr.io/drydock-dev/drydock" -}}
{{- $tag = .Chart.AppVersion -}}
{{- end -}}
{{- printf "%s:%s" $repo (toString $tag) -}}
{{- end -}}
