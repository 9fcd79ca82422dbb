// Pre/post-processing, alignment, golden check and bench JSON in plain Kotlin: no Android dependency, so the same
// code runs in the app and in JVM unit tests (`./gradlew :core:test`, or tools/jvm_test.sh without Gradle).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

// Bytecode level 17 from whatever JDK runs Gradle (Android Studio's bundled JBR included): no toolchain download.
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // org.json is part of Android (the app gets the platform's); on the JVM the tests bring the reference one.
    compileOnly(libs.org.json)
    testImplementation(libs.org.json)
    testImplementation(libs.junit)
}

tasks.test {
    // Cross-language vectors written by tests/test_android_kotlin.py: ./gradlew :core:test -PfsredgeVectors=DIR
    systemProperty("fsredge.vectors", providers.gradleProperty("fsredgeVectors").getOrElse(""))
}
