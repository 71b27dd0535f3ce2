{{/*
Names, labels and the few decisions several templates share (SQLite or not, whether the pod
needs an API token), so that each is made in one place.
*/}}

{{- define "ksmc-bot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name alone when it already contains the chart
name. Truncated to 63 characters (the DNS label limit).
*/}}
{{- define "ksmc-bot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ksmc-bot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "ksmc-bot.labels" -}}
helm.sh/chart: {{ include "ksmc-bot.chart" . }}
{{ include "ksmc-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ksmc-bot
{{- end }}

{{- define "ksmc-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ksmc-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The bot's pods: the selector labels plus a component, so that the migration Job's pods are
never taken for the bot's (by the Service, the PodDisruptionBudget or the NetworkPolicy).
*/}}
{{- define "ksmc-bot.botSelectorLabels" -}}
{{ include "ksmc-bot.selectorLabels" . }}
app.kubernetes.io/component: bot
{{- end }}

{{- define "ksmc-bot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ksmc-bot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ksmc-bot.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The port the bot serves HTTP on inside the pod (KSMC_PORT). */}}
{{- define "ksmc-bot.port" -}}3000{{- end }}

{{/*
"true" when the bot keeps its data in SQLite: no database Secret was named and the URL is
empty (the default, /data/ksmc.db) or a sqlite: URL. An existing database Secret means an
external database.
*/}}
{{- define "ksmc-bot.sqlite" -}}
{{- if and (not .Values.database.existingSecret) (or (not .Values.database.url) (hasPrefix "sqlite" .Values.database.url)) -}}
true
{{- end }}
{{- end }}

{{- define "ksmc-bot.defaultDatabaseUrl" -}}sqlite:////data/ksmc.db{{- end }}

{{/*
"true" when the pod needs its service account token: only for the in-cluster identity. Leader
election needs no Kubernetes API: the replicas elect a leader through a PostgreSQL advisory lock.
*/}}
{{- define "ksmc-bot.needsApiToken" -}}
{{- if .Values.inCluster.enabled -}}
true
{{- end }}
{{- end }}

{{/* "true" when a Service is rendered: HTTP mode, or Socket Mode with metrics scraped. */}}
{{- define "ksmc-bot.service" -}}
{{- if or (eq .Values.slack.mode "http") .Values.metrics.serviceMonitor.enabled -}}
true
{{- end }}
{{- end }}

{{- define "ksmc-bot.slackSecretName" -}}
{{- .Values.slack.existingSecret | default (printf "%s-slack" (include "ksmc-bot.fullname" .)) }}
{{- end }}

{{/*
KSMC_DATABASE_URL for the bot container when it comes from a Secret (an existing one, or the
one the chart makes from database.url); nothing when the default SQLite URL in the ConfigMap
applies.
*/}}
{{- define "ksmc-bot.databaseUrlEnv" -}}
{{- if .Values.database.existingSecret }}
- name: KSMC_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
{{- else if .Values.database.url }}
- name: KSMC_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "ksmc-bot.fullname" . }}-database
      key: database-url
{{- end }}
{{- end }}

{{/*
The same checks as values.schema.json, with plain messages, for installs that skip schema
validation (helm --skip-schema-validation).
*/}}
{{- define "ksmc-bot.validate" -}}
{{- if and (include "ksmc-bot.sqlite" .) (gt (int .Values.replicaCount) 1) }}
{{- fail "replicaCount > 1 needs an external database: SQLite is one file on one volume. Set database.url (postgresql+psycopg://...) or database.existingSecret, or replicaCount: 1." }}
{{- end }}
{{- if and (not .Values.slack.existingSecret) (or (not .Values.slack.botToken) (not .Values.slack.signingSecret)) }}
{{- fail "no Slack credentials: set slack.existingSecret, or both slack.botToken and slack.signingSecret." }}
{{- end }}
{{- if and (eq .Values.slack.mode "socket") (not .Values.slack.existingSecret) (not .Values.slack.appToken) }}
{{- fail "slack.mode socket needs an app-level token: set slack.appToken (xapp-...) or slack.existingSecret." }}
{{- end }}
{{- if and .Values.database.migrationUrl .Values.database.migrationExistingSecret }}
{{- fail "database.migrationUrl and database.migrationExistingSecret are both set: the owner's URL comes from one of them." }}
{{- end }}
{{- if and (include "ksmc-bot.sqlite" .) (or .Values.database.migrationUrl .Values.database.migrationExistingSecret) }}
{{- fail "database.migrationUrl / migrationExistingSecret need an external database for the bot too: set database.url (postgresql+psycopg://...) or database.existingSecret." }}
{{- end }}
{{- if not (regexMatch "^[1-9][0-9]*[smhd]$" (toString .Values.approvalTTL)) }}
{{- fail "approvalTTL must be a positive whole number followed by s, m, h or d, e.g. 30m." }}
{{- end }}
{{- end }}
