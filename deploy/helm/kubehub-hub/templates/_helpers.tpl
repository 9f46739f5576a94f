{{- define "kubehub-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The Deployment's name, and the fleet's name: every pod (one hub each, hub id = pod name)
is named FULLNAME-<hash>-<suffix>, and the metaserver accepts the fleet's token (a hub user
named FULLNAME) for every hub id FULLNAME-*. Kubernetes cuts pod names' prefixes at 58
characters, so FULLNAME stays short enough to survive whole. */ -}}
{{- define "kubehub-hub.fullname" -}}
{{- $name := "" -}}
{{- if .Values.fullnameOverride -}}
{{- $name = .Values.fullnameOverride -}}
{{- else if contains (include "kubehub-hub.name" .) .Release.Name -}}
{{- $name = .Release.Name -}}
{{- else -}}
{{- $name = printf "%s-%s" .Release.Name (include "kubehub-hub.name" .) -}}
{{- end -}}
{{- if gt (len $name) 40 -}}
{{- fail (printf "the hub fleet's name %q is longer than 40 characters: pod names would be cut and the hub ids would no longer start with it; choose a shorter release name or set fullnameOverride" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{- define "kubehub-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubehub-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kubehub-hub.labels" -}}
{{ include "kubehub-hub.selectorLabels" . }}
app.kubernetes.io/component: hub
app.kubernetes.io/part-of: kubehub
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- /* A Go-style duration (500ms, 30s, 5m, 1h) in seconds, as a number. */ -}}
{{- define "kubehub-hub.seconds" -}}
{{- $d := toString . -}}
{{- if hasSuffix "ms" $d -}}{{ divf (trimSuffix "ms" $d | float64) 1000 }}
{{- else if hasSuffix "s" $d -}}{{ trimSuffix "s" $d | float64 }}
{{- else if hasSuffix "m" $d -}}{{ mulf (trimSuffix "m" $d | float64) 60 }}
{{- else if hasSuffix "h" $d -}}{{ mulf (trimSuffix "h" $d | float64) 3600 }}
{{- else -}}{{ $d | float64 }}
{{- end -}}
{{- end -}}
