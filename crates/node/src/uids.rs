//! The UIDs the node speaks: verification, study-root query/retrieve, the storage SOP
//! classes it retrieves, and the transfer syntaxes it proposes and accepts.

/// Verification SOP class (C-ECHO).
pub const VERIFICATION: &str = "1.2.840.10008.1.1";
/// Study Root Query/Retrieve Information Model - FIND.
pub const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
/// Study Root Query/Retrieve Information Model - GET.
pub const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";

/// Implicit VR Little Endian (the default every node must accept).
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian.
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Transfer syntaxes accepted for retrieved images: the uncompressed ones first, then the
/// compressed ones dicom-rs decodes here (JPEG lossless, JPEG-LS, JPEG 2000, RLE).
/// Anything else (JPEG baseline/extended lossy, deflate, HTJ2K, MPEG/HEVC video) is not
/// proposed, so a peer must transcode or refuse in the association, never after.
pub const ACCEPTED_TRANSFER_SYNTAXES: &[&str] = &[
    EXPLICIT_LE,
    IMPLICIT_LE,
    "1.2.840.10008.1.2.4.70", // JPEG Lossless, first-order prediction
    "1.2.840.10008.1.2.4.57", // JPEG Lossless
    "1.2.840.10008.1.2.4.80", // JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81", // JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90", // JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91", // JPEG 2000
    "1.2.840.10008.1.2.5",    // RLE Lossless
];

/// Storage SOP classes a retrieval accepts: the images a knee study holds and the
/// results `srrd analyze --dicom-out` writes.
pub const RETRIEVED_STORAGE_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.2",     // CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",   // Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.4",     // MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",   // Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture
    "1.2.840.10008.5.1.4.1.1.66.4",  // Segmentation
    "1.2.840.10008.5.1.4.1.1.30",    // Parametric Map
    "1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33", // Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34", // Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.128",   // PET Image
    "1.2.840.10008.5.1.4.1.1.1",     // Computed Radiography
    "1.2.840.10008.5.1.4.1.1.1.1",   // Digital X-Ray (presentation)
    "1.2.840.10008.5.1.4.1.1.11.1",  // Grayscale Softcopy Presentation State
];
