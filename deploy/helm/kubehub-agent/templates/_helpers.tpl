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
