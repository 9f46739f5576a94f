{{- define "kubehub-metaserver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubehub-metaserver.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains (include "kubehub-metaserver.name" .) .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "kubehub-metaserver.name" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- /* Labels shared by every object; the component tells the metaserver's pods from
PostgreSQL's, so that no selector takes the other's pods. */ -}}
{{- define "kubehub-metaserver.commonLabels" -}}
app.kubernetes.io/name: {{ include "kubehub-metaserver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: kubehub
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kubehub-metaserver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubehub-metaserver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metaserver
{{- end -}}

{{- define "kubehub-metaserver.labels" -}}
{{ include "kubehub-metaserver.commonLabels" . }}
app.kubernetes.io/component: metaserver
{{- end -}}

{{- define "kubehub-metaserver.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "kubehub-metaserver.fullname" .) -}}
{{- end -}}

{{- define "kubehub-metaserver.postgresql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubehub-metaserver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: postgresql
{{- end -}}

{{- define "kubehub-metaserver.postgresql.labels" -}}
{{ include "kubehub-metaserver.commonLabels" . }}
app.kubernetes.io/component: postgresql
{{- end -}}

{{- /* Where the database URL comes from: "secret" (database.url or database.existingSecret)
or "postgresql" (the chart's own instance). Exactly one must be chosen. */ -}}
{{- define "kubehub-metaserver.databaseSource" -}}
{{- $external := or .Values.database.url .Values.database.existingSecret -}}
{{- if and .Values.postgresql.enabled $external -}}
{{- fail "choose one database: postgresql.enabled (the chart's single instance) or database.url / database.existingSecret (your PostgreSQL), not both" -}}
{{- else if .Values.postgresql.enabled -}}postgresql
{{- else if $external -}}secret
{{- else -}}
{{- fail "a database is required: database.url or database.existingSecret (an existing PostgreSQL, the production path), or postgresql.enabled=true (a single instance for a quickstart)" -}}
{{- end -}}
{{- end -}}

{{- define "kubehub-metaserver.databaseSecretName" -}}
{{- default (printf "%s-database" (include "kubehub-metaserver.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}

{{- define "kubehub-metaserver.adminTokenSecretName" -}}
{{- default (printf "%s-admin-token" (include "kubehub-metaserver.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{- define "kubehub-metaserver.encryptionSecretName" -}}
{{- default (printf "%s-encryption" (include "kubehub-metaserver.fullname" .)) .Values.encryption.existingSecret -}}
{{- end -}}

{{- define "kubehub-metaserver.postgresql.secretName" -}}
{{- default (include "kubehub-metaserver.postgresql.fullname" .) .Values.postgresql.existingSecret -}}
{{- end -}}

{{- /* A generated secret value that survives upgrades: the value already in the Secret when
there is one (lookup; empty under `helm template`), otherwise a new random one.
Arguments: (list $ secretName key). */ -}}
{{- define "kubehub-metaserver.keptRandom" -}}
{{- $root := index . 0 -}}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace (index . 1) -}}
{{- if and $existing $existing.data (hasKey $existing.data (index . 2)) -}}
{{- index $existing.data (index . 2) | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}

{{- define "kubehub-metaserver.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else -}}
{{- printf "%s://%s.%s.svc:%v" (ternary "http" "https" .Values.tls.insecureHttp) (include "kubehub-metaserver.fullname" .) .Release.Namespace .Values.service.port -}}
{{- end -}}
{{- end -}}
