{{- define "pw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "pw.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "pw.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* labels on every object; `component` is added per object */}}
{{- define "pw.labels" -}}
app.kubernetes.io/name: {{ include "pw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pw.serverSelector" -}}
app.kubernetes.io/name: {{ include "pw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "pw.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "pw.tlsSecret" -}}
{{- if eq .Values.certificates.mode "existingSecret" -}}
{{- required "certificates.existingSecret.name is required in existingSecret mode" .Values.certificates.existingSecret.name -}}
{{- else -}}
{{- include "pw.fullname" . }}-tls
{{- end -}}
{{- end -}}

{{- define "pw.caSecret" -}}
{{- include "pw.fullname" . }}-ca
{{- end -}}

{{- define "pw.policiesConfigMap" -}}
{{- .Values.existingPoliciesConfigMap | default (printf "%s-policies" (include "pw.fullname" .)) -}}
{{- end -}}

{{/* the name the API server verifies in the serving certificate */}}
{{- define "pw.serviceHost" -}}
{{- include "pw.fullname" . }}.{{ .Release.Namespace }}.svc
{{- end -}}

{{- define "pw.checkMode" -}}
{{- if not (has .Values.certificates.mode (list "bootstrap" "certManager" "existingSecret")) -}}
{{- fail (printf "certificates.mode must be bootstrap, certManager or existingSecret, not %q" .Values.certificates.mode) -}}
{{- end -}}
{{- if and (eq .Values.certificates.mode "existingSecret") (not .Values.certificates.existingSecret.caBundle) -}}
{{- fail "certificates.existingSecret.caBundle is required in existingSecret mode" -}}
{{- end -}}
{{- end -}}

{{/* the certificate Job's and CronJob's Pod spec: `placement-webhook certs --install` */}}
{{- define "pw.certsPod" -}}
serviceAccountName: {{ include "pw.fullname" . }}-certs
restartPolicy: OnFailure
{{- with .Values.image.pullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  seccompProfile: {type: RuntimeDefault}
containers:
- name: certs
  image: {{ include "pw.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  command: [placement-webhook]
  args:
  - certs
  - --install
  - --service={{ include "pw.fullname" . }}
  - --namespace={{ .Release.Namespace }}
  - --secret={{ include "pw.tlsSecret" . }}
  - --ca-secret={{ include "pw.caSecret" . }}
  - --webhook={{ include "pw.fullname" . }}
  {{- if eq .Values.mode "native" }}
  - --no-mutating
  {{- end }}
  - --days={{ .Values.certificates.bootstrap.days }}
  - --ca-days={{ .Values.certificates.bootstrap.caDays }}
  resources: {{- toYaml .Values.certificates.bootstrap.resources | nindent 4 }}
  securityContext:
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    runAsNonRoot: true
    capabilities: {drop: [ALL]}
    seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* the policy file's text: `policies` as given (YAML text, e.g. --set-file), or as YAML when given
     as a mapping (e.g. --set-json, which values.schema.json has checked in full), else the chart's
     copy of the project's policies.yaml */}}
{{- define "pw.policiesText" -}}
{{- if kindIs "map" .Values.policies -}}
{{- toYaml .Values.policies -}}
{{- else -}}
{{- .Values.policies | default (.Files.Get "files/policies.yaml") -}}
{{- end -}}
{{- end -}}

{{/* Policies given as text cannot be checked by values.schema.json (helm checks values, and this
     one is a string): refuse here what a template can see, so a broken file fails `helm install`
     instead of every server Pod's start. The server still checks the rest (names, globs, cross-
     checks) at start; `placement-webhook validate` checks it all before. */}}
{{- define "pw.checkPolicies" -}}
{{- if and (not .Values.existingPoliciesConfigMap) (kindIs "string" .Values.policies) .Values.policies -}}
{{- $file := fromYaml .Values.policies -}}
{{- $hint := "; check the file with `placement-webhook validate FILE`, or give it as a mapping (--set-json \"policies=$(yq -o json FILE)\") for the chart's schema to check in full" -}}
{{- if hasKey $file "Error" -}}
{{- fail (printf "policies: not a YAML mapping: %s%s" (get $file "Error") $hint) -}}
{{- end -}}
{{- range $key, $_ := $file -}}
{{- if not (has $key (list "version" "policies" "reservations")) -}}
{{- fail (printf "policies: unknown top-level field %q (expected version, policies, reservations)%s" $key $hint) -}}
{{- end -}}
{{- end -}}
{{- if not (eq (toString (get $file "version")) "1") -}}
{{- fail (printf "policies: version must be 1%s" $hint) -}}
{{- end -}}
{{- range $list := list "policies" "reservations" -}}
{{- $items := get $file $list | default list -}}
{{- if not (kindIs "slice" $items) -}}
{{- fail (printf "policies: %s must be a list%s" $list $hint) -}}
{{- end -}}
{{- range $i, $item := $items -}}
{{- if not (kindIs "map" $item) -}}
{{- fail (printf "policies: %s[%d] must be a mapping%s" $list $i $hint) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $i, $policy := get $file "policies" | default list -}}
{{- range $field := list "name" "placement" -}}
{{- if not (hasKey $policy $field) -}}
{{- fail (printf "policies: policies[%d] has no %s%s" $i $field $hint) -}}
{{- end -}}
{{- end -}}
{{- range $key, $_ := $policy -}}
{{- if not (has $key (list "name" "description" "match" "placement" "onConflict" "mode")) -}}
{{- fail (printf "policies: policies[%d] has an unknown field %q (expected name, description, match, placement, onConflict, mode)%s" $i $key $hint) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* inline policies that use namespaceSelector need the server's Namespace RBAC: refuse the
     combination instead of a server whose every such Pod gets no answer */}}
{{- define "pw.checkNamespaceSelector" -}}
{{- $policies := include "pw.policiesText" . -}}
{{- if and (not .Values.existingPoliciesConfigMap) (not .Values.namespaceSelector.enabled) (regexMatch "(?m)^[^#]*\\bnamespaceSelector:" $policies) -}}
{{- fail "the policies use match.namespaceSelector: set namespaceSelector.enabled=true (the server then reads Namespaces)" -}}
{{- end -}}
{{- end -}}

{{/* the server calls the API server: the namespace cache, the guard's Node cache, or keeping the
     native guard policy in step ("true" or "false") */}}
{{- define "pw.callsApi" -}}
{{- or .Values.namespaceSelector.enabled (and .Values.guard.enabled (or .Values.guard.nodeName.enabled .Values.guard.native.enabled)) (ne .Values.mode "webhook") -}}
{{- end -}}

{{/* the native ValidatingAdmissionPolicy (and binding) the server keeps in step; "-audit" is
     appended for the audit-mode reservations */}}
{{- define "pw.nativeGuardName" -}}
{{- include "pw.fullname" . }}-guard
{{- end -}}

{{/* the namespaces no webhook of this chart is sent, nor the native guard judges */}}
{{- define "pw.excludedNamespaces" -}}
{{- concat (list "kube-system" .Release.Namespace) .Values.webhook.excludeNamespaces | uniq | toJson -}}
{{- end -}}

{{/* native mode's MutatingAdmissionPolicy; its conflict ValidatingAdmissionPolicies are NAME-deny and NAME-warn */}}
{{- define "pw.nativePlacementName" -}}
{{- include "pw.fullname" . }}
{{- end -}}
