{{- define "kubehub-agent.name" -}}kubehub-agent{{- end -}}
{{- define "kubehub-agent.labels" -}}
app.kubernetes.io/name: kubehub-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
{{- /* Enrolment mode: the agent gets (and renews) its certificate from the metaserver. */ -}}
{{- define "kubehub-agent.enrolling" -}}
{{- if .Values.enrollment.metaserverUrl -}}true{{- end -}}
{{- end -}}
{{- /* Static mode: the Secret with tls.crt, tls.key and hub-ca.crt. */ -}}
{{- define "kubehub-agent.secretName" -}}
{{- if .Values.tls.existingSecret -}}{{ .Values.tls.existingSecret }}{{- else -}}{{ .Release.Name }}-tls{{- end -}}
{{- end -}}
{{- /* Enrolment mode: the Secret the agent keeps its certificate and key in. */ -}}
{{- define "kubehub-agent.credentialsSecret" -}}{{ .Release.Name }}-credentials{{- end -}}
{{- /* Enrolment mode: the Secret holding the bootstrap token. */ -}}
{{- define "kubehub-agent.bootstrapSecret" -}}
{{- if .Values.enrollment.existingSecret -}}{{ .Values.enrollment.existingSecret }}{{- else -}}{{ .Release.Name }}-bootstrap{{- end -}}
{{- end -}}
{{- /* hubUrl: one URL, a comma-separated string or a list; always required. */ -}}
{{- define "kubehub-agent.hubUrl" -}}
{{- if kindIs "slice" .Values.hubUrl -}}
{{- required "hubUrl is required" (join "," .Values.hubUrl) -}}
{{- else -}}
{{- required "hubUrl is required" .Values.hubUrl -}}
{{- end -}}
{{- end -}}
{{- /* Native mode: native commands only, no API server (agent --mode native). */ -}}
{{- define "kubehub-agent.native" -}}
{{- if eq (.Values.mode | default "kubernetes") "native" -}}
{{- if not .Values.commands -}}
{{- fail "mode native serves only native commands: set commands (see the agent's README)" -}}
{{- end -}}
true
{{- end -}}
{{- end -}}
