{{- define "kubehub-agent.name" -}}kubehub-agent{{- end -}}
{{- define "kubehub-agent.labels" -}}
app.kubernetes.io/name: kubehub-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- define "kubehub-agent.secretName" -}}
{{- if .Values.tls.existingSecret -}}{{ .Values.tls.existingSecret }}{{- else -}}{{ .Release.Name }}-tls{{- end -}}
{{- end -}}
{{- /* hubUrl: one URL, a comma-separated string or a list; always required. */ -}}
{{- define "kubehub-agent.hubUrl" -}}
{{- if kindIs "slice" .Values.hubUrl -}}
{{- required "hubUrl is required" (join "," .Values.hubUrl) -}}
{{- else -}}
{{- required "hubUrl is required" .Values.hubUrl -}}
{{- end -}}
{{- end -}}
