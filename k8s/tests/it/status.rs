//! Status round-trips through YAML and JSON in KServe's field names.

use std::collections::BTreeMap;

use infergate_k8s::{
    Addressable, Component, ComponentStatus, Condition, ConditionStatus, ConditionType,
    FailureInfo, InferenceService, InferenceServiceStatus, ModelRevisionStates, ModelState,
    ModelStatus, TrafficTarget, TransitionStatus, parse_documents,
};

use crate::support::parse_single;

fn canary_status() -> InferenceServiceStatus {
    let traffic = vec![
        TrafficTarget {
            tag: Some("latest".into()),
            revision_name: Some("iris-predictor-00002".into()),
            latest_revision: Some(true),
            percent: Some(10),
            ..TrafficTarget::default()
        },
        TrafficTarget {
            tag: Some("prev".into()),
            revision_name: Some("iris-predictor-00001".into()),
            latest_revision: Some(false),
            percent: Some(90),
            ..TrafficTarget::default()
        },
    ];
    let predictor = ComponentStatus {
        url: Some("http://iris-predictor.default.example.com".into()),
        latest_created_revision: Some("iris-predictor-00002".into()),
        latest_ready_revision: Some("iris-predictor-00002".into()),
        latest_rolledout_revision: Some("iris-predictor-00001".into()),
        previous_rolledout_revision: Some("iris-predictor-00001".into()),
        traffic,
        ..ComponentStatus::default()
    };
    let ready = Condition {
        reason: Some("Ready".into()),
        message: Some("all revisions are Ready".into()),
        last_transition_time: Some("2026-11-23T05:10:00Z".into()),
        ..Condition::new(ConditionType::Ready, ConditionStatus::True)
    };
    let loading = Condition {
        reason: Some("ModelLoadFailed".into()),
        message: Some("iris-predictor-00003: no such file".into()),
        severity: Some("Info".into()),
        ..Condition::new(ConditionType::PredictorReady, ConditionStatus::Unknown)
    };
    InferenceServiceStatus {
        observed_generation: Some(3),
        url: Some("http://iris.default.example.com".into()),
        address: Some(Addressable {
            url: Some("http://iris.default.svc.cluster.local".into()),
        }),
        conditions: vec![
            ready,
            loading,
            Condition::new(ConditionType::IngressReady, ConditionStatus::False),
        ],
        components: BTreeMap::from([(Component::Predictor, predictor)]),
        model_status: Some(ModelStatus {
            states: Some(ModelRevisionStates {
                active_model_state: Some(ModelState::Loaded),
                target_model_state: Some(ModelState::FailedToLoad),
            }),
            transition_status: Some(TransitionStatus::BlockedByFailedLoad),
            last_failure_info: Some(FailureInfo {
                reason: Some("ModelLoadFailed".into()),
                message: Some("no such file".into()),
                ..FailureInfo::default()
            }),
            ..ModelStatus::default()
        }),
        ..InferenceServiceStatus::default()
    }
}

fn isvc_with_status() -> InferenceService {
    InferenceService::test("iris")
        .generation(3)
        .canary(10)
        .with_status(canary_status())
}

#[test]
fn status_round_trips_through_yaml() {
    let isvc = isvc_with_status();
    let yaml = serde_saphyr::to_string(&isvc).expect("serializes");
    // Strings that look like booleans are quoted, as the API server expects.
    assert!(yaml.contains("status: \"True\""), "{yaml}");
    let docs = parse_documents(&yaml, "printed.yaml").expect("reloads");
    assert_eq!(docs.len(), 1);
    assert!(
        docs[0].warnings.is_empty(),
        "{:?}\n{yaml}",
        docs[0].warnings
    );
    assert_eq!(docs[0].isvc.as_ref(), Some(&isvc), "{yaml}");
}

#[test]
fn status_round_trips_through_json_in_kserve_names() {
    let isvc = isvc_with_status();
    let json = serde_json::to_value(&isvc).expect("serializes");
    let status = &json["status"];
    assert_eq!(status["observedGeneration"], 3);
    assert_eq!(
        status["address"]["url"],
        "http://iris.default.svc.cluster.local"
    );
    assert_eq!(status["conditions"][0]["type"], "Ready");
    assert_eq!(status["conditions"][0]["status"], "True");
    assert_eq!(
        status["conditions"][0]["lastTransitionTime"],
        "2026-11-23T05:10:00Z"
    );
    assert_eq!(status["conditions"][1]["status"], "Unknown");
    assert_eq!(status["conditions"][1]["severity"], "Info");
    let predictor = &status["components"]["predictor"];
    assert_eq!(predictor["latestRolledoutRevision"], "iris-predictor-00001");
    assert_eq!(
        predictor["previousRolledoutRevision"],
        "iris-predictor-00001"
    );
    assert_eq!(
        predictor["traffic"][0]["revisionName"],
        "iris-predictor-00002"
    );
    assert_eq!(predictor["traffic"][0]["latestRevision"], true);
    assert_eq!(predictor["traffic"][1]["percent"], 90);
    let model_status = &status["modelStatus"];
    assert_eq!(model_status["states"]["activeModelState"], "Loaded");
    assert_eq!(model_status["transitionStatus"], "BlockedByFailedLoad");
    assert_eq!(model_status["lastFailureInfo"]["reason"], "ModelLoadFailed");
    assert_eq!(json["spec"]["predictor"]["canaryTrafficPercent"], 10);
    assert_eq!(
        json["spec"]["predictor"]["model"]["modelFormat"]["name"],
        "onnx"
    );

    // None is skipped, never written as null.
    let text = json.to_string();
    assert!(!text.contains("null"), "{text}");
    assert!(
        !text.contains("reason\":null") && !text.contains("transformer"),
        "{text}"
    );

    let back: InferenceService = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, isvc);
}

#[test]
fn kubectl_printed_status_loads() {
    // Shaped like `kubectl get isvc my-model -o yaml` during a KServe canary rollout.
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: my-model
  namespace: default
  generation: 2
  resourceVersion: \"84213\"
  uid: 6c1f0e9a-1111-2222-3333-444455556666
  creationTimestamp: \"2026-11-20T10:00:00Z\"
spec:
  predictor:
    canaryTrafficPercent: 10
    onnx:
      storageUri: file:///models/flowers-2.onnx
status:
  address:
    url: http://my-model.default.svc.cluster.local
  deploymentMode: Serverless
  components:
    predictor:
      address:
        url: http://my-model-predictor-default.default.svc.cluster.local
      latestCreatedRevision: my-model-predictor-default-00002
      latestReadyRevision: my-model-predictor-default-00002
      latestRolledoutRevision: my-model-predictor-default-00001
      previousRolledoutRevision: my-model-predictor-default-00001
      traffic:
      - latestRevision: true
        percent: 10
        revisionName: my-model-predictor-default-00002
        tag: latest
      - latestRevision: false
        percent: 90
        revisionName: my-model-predictor-default-00001
        tag: prev
      url: http://my-model-predictor-default.default.example.com
  conditions:
  - lastTransitionTime: \"2026-11-20T10:05:00Z\"
    status: \"True\"
    type: IngressReady
  - lastTransitionTime: \"2026-11-20T10:05:00Z\"
    severity: Info
    status: \"True\"
    type: PredictorReady
  - lastTransitionTime: \"2026-11-20T10:05:00Z\"
    status: \"True\"
    type: Ready
  modelStatus:
    copies:
      failedCopies: 0
      totalCopies: 1
    states:
      activeModelState: Loaded
      targetModelState: Loaded
    transitionStatus: UpToDate
  observedGeneration: 2
  url: http://my-model.default.example.com
";
    let docs = parse_documents(yaml, "kubectl.yaml").expect("loads");
    assert!(docs[0].warnings.is_empty(), "{:?}", docs[0].warnings);
    let isvc = docs[0].isvc.as_ref().expect("an InferenceService");
    let status = isvc.status.as_ref().expect("status is parsed");
    assert!(status.is_ready());
    assert_eq!(status.observed_generation, isvc.metadata.generation);
    let predictor = status.predictor().expect("predictor status");
    let split: Vec<_> = predictor
        .traffic
        .iter()
        .map(|t| (t.tag.as_deref(), t.percent))
        .collect();
    assert_eq!(
        split,
        [(Some("latest"), Some(10)), (Some("prev"), Some(90))]
    );
    let ready = status
        .condition(&ConditionType::PredictorReady)
        .expect("PredictorReady");
    assert_eq!(ready.severity.as_deref(), Some("Info"));

    // And it prints back to the same object.
    let printed = serde_saphyr::to_string(isvc).expect("serializes");
    let again = parse_documents(&printed, "again.yaml").expect("reloads");
    assert_eq!(again[0].isvc.as_ref(), Some(isvc), "{printed}");
}

#[test]
fn a_sample_prints_back_unchanged() {
    let (isvc, _) = parse_single("rollout-canary.yaml");
    let printed = serde_saphyr::to_string(&isvc).expect("serializes");
    assert!(printed.contains("canaryTrafficPercent: 10"), "{printed}");
    assert!(printed.contains("storageUri:"), "{printed}");
    let again = parse_documents(&printed, "again.yaml").expect("reloads");
    assert_eq!(again[0].isvc.as_ref(), Some(&isvc), "{printed}");
}
