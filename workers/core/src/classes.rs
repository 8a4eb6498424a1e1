//! The ten CIFAR-10 classes, in the index order the models were trained with.

pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Index of a class name, case-insensitive.
pub fn class_index(name: &str) -> Option<usize> {
    CIFAR10_CLASSES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name.trim()))
}
